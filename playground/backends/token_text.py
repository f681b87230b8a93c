"""The text of a stream of token ids, a piece per token as soon as it is known.

Decoding every token alone loses what tokens mean together (a SentencePiece word's leading
space, a character split over several byte tokens); decoding the whole answer every time costs
more per token the longer it gets. Here each new token is decoded with the few tokens before it
and only the new part goes out (the method vLLM and TGI use), so the work per token stays small,
and text is held back only while it ends in an incomplete multi-byte character.
"""

from __future__ import annotations

from typing import Any

# Tokens decoded before the new ones, for context (a leading space, a merged byte sequence).
CONTEXT_TOKENS = 5


class IncrementalDecoder:
    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0  # where the context of the next piece starts
        self._read_offset = 0  # the tokens before this one have gone out as text

    def push(self, token_ids: list[int]) -> str:
        """The text the new tokens add; "" while it would end in an incomplete character."""
        self._ids.extend(token_ids)
        before = self._decode(self._ids[self._prefix_offset : self._read_offset])
        after = self._decode(self._ids[self._prefix_offset :])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self._prefix_offset = max(self._read_offset, len(self._ids) - CONTEXT_TOKENS)
        self._read_offset = len(self._ids)
        return after[len(before) :]

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))
