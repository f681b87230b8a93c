"""A long document's tokens, counted a span at a time: what a cut needs, without its token ids.

Tokenizing a 256K-token document whole costs far more memory than the document: a fast tokenizer
keeps offsets and token strings per token (about 300 bytes each), a server's ``/tokenize``
answers a JSON list, and Python holds each id as an object. A long document is therefore split
into spans of about ``SPAN_CHARS`` at *safe* places, each span is encoded on its own and only its
count is kept; a cut re-encodes the one or two spans it falls in.

A place is safe when the tokens of the text are the tokens of its two sides put together. Here
that is a single space between two non-space characters, the place just before the space: in a
byte-level BPE with a GPT-2 or Qwen/Llama-3 style pre-tokenizer a word, a number, a run of
punctuation ends there and the space starts the next pre-token (" word"), and a Metaspace
pre-tokenizer that splits on spaces starts a piece there too. That is checked, not assumed: each
backend's tokenizer is probed once on a sample split at every such place
(:func:`spans_are_exact`), and one where it does not hold (SentencePiece with a word-start marker
added at the start of each piece, say) is counted whole, as before.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from playground.backends.base import Backend, TokenCountUnavailable
from playground.core.vocabulary import TruncationPolicy

# Documents shorter than this are counted whole: one call, and memory is no concern.
SPANNED_FROM_CHARS = 65_536
# Small enough that a local tokenizer encodes a span (and the prompt with the first and last) on
# the event loop in a few milliseconds, without a worker thread (whose own malloc arena would keep
# what it touched); the loop is given back between spans.
SPAN_CHARS = 8_192
# Spans encoded at once: a server answers several while the memory held stays a few spans.
SPANS_AT_ONCE = 4

# Spaces between words, numbers, punctuation, accents and CJK (safe places), and runs of spaces
# and newlines (not).
PROBE = (
    "The vault code is 7481. It was set on 2024-03-01, don't forget it!\n"
    "  indented line with trailing spaces   \nnaïve café, 東京 ünïcödé ½ ﬁ (x) [1] {y}\n"
    "def f(x):\n    return x ** 2  # squared\n"
    "'quoted' \"double\" <tag attr=1> ... -- end\n\nEnd of the probe (after a blank line) 42 %s\n"
)

# Whether each backend's tokens of a text are those of its spans put together (by id(); see
# arena.context for why not a WeakKeyDictionary).
_exact: dict[int, bool] = {}


def safe_places(text: str, every: int | None = None) -> list[int]:
    """Places about ``every`` (default SPAN_CHARS) characters apart where the text may be split
    (see the module's docstring), from 0 to len(text) included. A text with no such place is one
    span."""
    every = every or SPAN_CHARS
    places = [0]
    at = every
    while at < len(text):
        found = _next_safe(text, at)
        if found is None:
            break
        places.append(found)
        at = found + every
    places.append(len(text))
    return places


def _next_safe(text: str, start: int) -> int | None:
    position = text.find(" ", max(start, 1))
    while position != -1 and position + 1 < len(text):
        if not text[position - 1].isspace() and not text[position + 1].isspace():
            return position
        position = text.find(" ", position + 1)
    return None


async def spans_are_exact(backend: Backend) -> bool:
    """Whether this backend's tokenizer gives a text's tokens as those of its spans put together,
    at the places :func:`safe_places` chooses (probed once per backend)."""
    key = id(backend)
    if key not in _exact:
        places = safe_places(PROBE, every=1)
        whole = await backend.encode(PROBE)
        pieces: list[int] = []
        for start, end in zip(places, places[1:], strict=False):
            pieces.extend(await backend.encode(PROBE[start:end]))
        if key not in _exact:
            weakref.finalize(backend, _exact.pop, key, None)
        _exact[key] = pieces == whole and len(places) > 4
    return _exact[key]


@dataclass
class SpannedDocument:
    """A document split at safe places, with each span's token count once counted."""

    text: str
    places: list[int]
    counts: dict[int, int] = field(default_factory=dict)  # span index -> tokens

    @classmethod
    def of(cls, text: str) -> SpannedDocument:
        return cls(text, safe_places(text))

    @property
    def spans(self) -> int:
        return len(self.places) - 1

    def span(self, index: int) -> str:
        return self.text[self.places[index]:self.places[index + 1]]

    def ends(self) -> str:
        """The first and the last span together (the whole text when it is one or two spans):
        counted in its prompt, it stands for the prompt with the whole document, the middle
        spans' counts added (the place where the two meet is safe too)."""
        if self.spans <= 2:
            return self.text
        return self.span(0) + self.span(self.spans - 1)

    def middle(self) -> range:
        return range(1, self.spans - 1) if self.spans > 2 else range(0)

    async def count(self, backend: Backend, indices: range) -> int:
        """Tokens of these spans (each encoded once; a few at a time)."""
        todo = [i for i in indices if i not in self.counts]
        gate = asyncio.Semaphore(SPANS_AT_ONCE)

        async def one(index: int) -> None:
            async with gate:
                self.counts[index] = len(await backend.encode(self.span(index)))
                await asyncio.sleep(0)  # a local tokenizer answers at once: let the loop run between spans

        await asyncio.gather(*(one(i) for i in todo))
        return sum(self.counts[i] for i in indices)

    async def total(self, backend: Backend) -> int:
        return await self.count(backend, range(self.spans))

    async def head(self, backend: Backend, keep: int) -> str:
        """The text of the document's first ``keep`` tokens."""
        if keep <= 0:
            return ""
        before = 0
        for index in range(self.spans):
            tokens = self.counts[index]
            if before + tokens >= keep:
                span = self.span(index)
                start = await backend.decode((await backend.encode(span))[:keep - before])
                if span.startswith(" ") and not start.startswith(" "):
                    # A Metaspace decoder drops the space a decoding starts with; here it is mid-text.
                    start = " " + start
                return self.text[:self.places[index]] + start
            before += tokens
        return self.text

    async def tail(self, backend: Backend, keep: int) -> str:
        """The text of the document's last ``keep`` tokens."""
        if keep <= 0:
            return ""
        after = 0
        for index in reversed(range(self.spans)):
            tokens = self.counts[index]
            if after + tokens >= keep:
                ids = await backend.encode(self.span(index))
                return await backend.decode(ids[len(ids) - (keep - after):]) + self.text[self.places[index + 1]:]
            after += tokens
        return self.text


async def spanned(backend: Backend, text: str) -> SpannedDocument | None:
    """The document in spans when it is long and this backend's tokenizer allows it, else None
    (count it whole)."""
    if len(text) < SPANNED_FROM_CHARS:
        return None
    try:
        if not await spans_are_exact(backend):
            return None
    except TokenCountUnavailable:
        return None
    document = SpannedDocument.of(text)
    return document if document.spans > 2 else None


async def cut_spanned(document: SpannedDocument, backend: Backend, keep: int, policy: TruncationPolicy,
                      marker: str) -> str:
    if policy == "head":
        return await document.head(backend, keep) + marker
    if policy == "tail":
        return marker + await document.tail(backend, keep)
    return await document.head(backend, keep - keep // 2) + marker + await document.tail(backend, keep // 2)
