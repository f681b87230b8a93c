"""A Hugging Face tokenizer read from a local folder, for counting tokens as a model does.

Used by the transformers backend (its checkpoint's tokenizer, before and without the weights)
and by the OpenAI-compatible backend when its server has no ``/tokenize`` (the ``tokenizer:``
folder in the config). Only the tokenizer files are read, never the weights, so counting is
cheap even for a model that has not been loaded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from playground.backends.base import ContextWindow, TokenCountUnavailable
from playground.backends.hf_import import import_transformers
from playground.core.events import ChatMessage

T = TypeVar("T")

# Below this many characters tokenizing takes well under a millisecond: done on the event loop,
# since a hop to a worker thread would cost more than the work. Above it (long documents, up to
# megabytes) the work goes to a thread so the other side's stream keeps flowing.
INLINE_CHARS = 20_000


class LocalTokenizer:
    def __init__(self, path: Path, owner: str) -> None:
        self.path = path
        self.owner = owner  # the model's name, for error messages
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def load_sync(self) -> Any:
        """The tokenizer, read from disk on first use (blocking: call from a thread)."""
        with self._lock:
            if self._tokenizer is None:
                # Imported here: an app that never counts with a local tokenizer never pays for
                # importing transformers.
                import_transformers()
                from transformers import AutoTokenizer

                try:
                    tokenizer = AutoTokenizer.from_pretrained(self.path)
                except Exception as exc:
                    raise TokenCountUnavailable(
                        f"Cannot load the tokenizer of {self.owner!r} from {self.path}: {exc}"
                    ) from exc
                # Counting a document longer than the model's window is the point (it is cut
                # next), so transformers' warning that such a sequence "will result in indexing
                # errors" would only mislead whoever reads the log. It warns once per tokenizer.
                warned = getattr(tokenizer, "deprecation_warnings", None)
                if isinstance(warned, dict):
                    warned["sequence-length-is-longer-than-the-specified-maximum"] = True
                self._tokenizer = tokenizer
            return self._tokenizer

    async def _run(self, size: int, work: Callable[[Any], T]) -> T:
        if self._tokenizer is not None and size <= INLINE_CHARS:
            return self._call(work, self._tokenizer)
        return await asyncio.to_thread(lambda: self._call(work, self.load_sync()))

    def _call(self, work: Callable[[Any], T], tokenizer: Any) -> T:
        try:
            return work(tokenizer)
        except TokenCountUnavailable:
            raise
        except Exception as exc:  # a chat template that rejects the messages, an id out of range
            raise TokenCountUnavailable(f"The tokenizer of {self.owner!r} ({self.path}) failed: {exc}") from exc

    async def count_chat(self, messages: list[ChatMessage], chat_template_kwargs: dict[str, Any]) -> int:
        """Tokens of the whole prompt: chat template, generation prompt and template arguments,
        exactly as the transformers backend builds it for generate()."""

        def count(tokenizer: Any) -> int:
            encoded = tokenizer.apply_chat_template(
                [dict(m) for m in messages],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                **chat_template_kwargs,
            )
            return len(encoded["input_ids"])

        return await self._run(sum(len(m["content"]) for m in messages), count)

    async def encode(self, text: str) -> list[int]:
        return await self._run(len(text), lambda t: list(t.encode(text, add_special_tokens=False)))

    async def decode(self, tokens: list[int]) -> str:
        # Special tokens are kept: decode must give back what encode was given, and vLLM's
        # /detokenize keeps them too, so both ways of decoding agree.
        return await self._run(len(tokens) * 4, lambda t: str(t.decode(tokens, skip_special_tokens=False)))


class LocalCounting:
    """Counting, encoding and the window of a local checkpoint, from its own tokenizer and the
    config: the same for a model run in the app's process and one run in a worker process (the
    tokenizer always stays in the app, so counting never waits for the model)."""

    _tokenizer: LocalTokenizer
    config: Any  # a TransformersModel: its context_window

    async def count_prompt(self, messages: list[ChatMessage], params: Any) -> int:
        return await self._tokenizer.count_chat(messages, params.chat_template_kwargs)

    async def encode(self, text: str) -> list[int]:
        return await self._tokenizer.encode(text)

    async def decode(self, tokens: list[int]) -> str:
        return await self._tokenizer.decode(tokens)

    async def context_window(self) -> ContextWindow:
        return ContextWindow(int(self.config.context_window), "config")
