"""Needle in a haystack: a document of an exact token length with one sentence to find in it.

A sweep asks both models the same question over a grid of document lengths and needle depths:

* the grid: ``--lengths 4k,16k,64k`` (``k`` = 1,024 tokens, ``m`` = 1,048,576) and ``--depths
  0,25,50,75,100`` (percent of the document before the needle), each cell asked ``repeats`` times;
* the needle of a cell is "The vault code is NNNN." with a four-digit code drawn from the cell's
  length, depth and repeat, the question "What is the vault code? ...", the reference the code;
* the haystack is built for each model with that model's own tokenizer (``Backend.encode``) to
  exactly ``length`` tokens of document text (the document alone: the ``<document>`` tags, the
  question and the chat template come on top, and are counted in the stored prompt tokens).

Building a haystack (:func:`build_haystack`): filler text (seeded sentences of the generated
haystack's words, or a user's own document repeated as often as needed) long enough for the
length; the needle goes in at the sentence boundary whose share of filler tokens before it is
nearest the depth; the text after it is cut at a token boundary (encode, slice the ids, decode)
so that the whole counts ``length`` tokens, re-encoded and adjusted until it does. At depth 100
the needle is the last sentence and the cut is at the start instead. Re-encoding a decoded slice
can merge differently at the joins, which the adjusting rounds absorb; the count that was reached
is reported (``BuiltHaystack.tokens``), not assumed.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from playground.backends.base import Backend
from playground.evalsets.haystack import WORDS
from playground.evalsets.prompt_sets import PromptItem

NEEDLE_SET = "needle"  # the prompt_set of every stored needle turn
QUESTION = "What is the vault code? Answer with the number only."
DEFAULT_DEPTHS = (0, 25, 50, 75, 100)
MIN_LENGTH = 64  # below this the needle and its question would be most of the document
MAX_LENGTH = 4 * 1024 * 1024  # beyond any model's window today; a typo such as 16000k stops here
_SUFFIX = {"": 1, "k": 1024, "m": 1024 * 1024}
_LENGTH = re.compile(r"(\d+(?:\.\d+)?)([km]?)")
# A cell's stored item id: L<length>-D<depth>-R<repeat>, and -H<8 hex> with a user's haystack.
_CELL_ID = re.compile(r"L(\d+)-D(\d+)-R(\d+)(?:-H([0-9a-f]{8}))?")
# Spare filler tokens beyond the length: the text after the needle is cut from them.
_SLACK = 64
_GROWING_ROUNDS = 12
_FITTING_ROUNDS = 8


class NeedleSpecError(ValueError):
    """A grid that cannot be run; the message names the option and the bad value."""


def parse_lengths(text: str) -> tuple[int, ...]:
    """``"4k,16k,1536"`` -> ``(4096, 16384, 1536)``: token counts, ``k`` = 1,024, ``m`` = 1,048,576."""
    lengths: list[int] = []
    for part in _parts(text, "--lengths"):
        match = _LENGTH.fullmatch(part.lower())
        if match is None:
            raise NeedleSpecError(f"--lengths: {part!r} is not a length (use token counts such as 4096, 4k, 16k, 1m)")
        value = float(match.group(1)) * _SUFFIX[match.group(2)]
        if value != int(value):
            raise NeedleSpecError(f"--lengths: {part!r} is not a whole number of tokens ({value:g})")
        tokens = int(value)
        if not MIN_LENGTH <= tokens <= MAX_LENGTH:
            raise NeedleSpecError(f"--lengths: {part!r} is {tokens:,} tokens; a length is from {MIN_LENGTH} "
                                  f"to {MAX_LENGTH:,} tokens (4m)")
        if tokens in lengths:
            raise NeedleSpecError(f"--lengths: {part!r} ({tokens:,} tokens) is given twice")
        lengths.append(tokens)
    return tuple(sorted(lengths))


def parse_depths(text: str) -> tuple[int, ...]:
    """``"0,25,50%,100"`` -> ``(0, 25, 50, 100)``: whole percentages of the document before the needle."""
    depths: list[int] = []
    for part in _parts(text, "--depths"):
        number = part.removesuffix("%").strip()
        if not number.isdigit() or not 0 <= int(number) <= 100:
            raise NeedleSpecError(f"--depths: {part!r} is not a depth (whole percentages from 0, the start, "
                                  "to 100, the end)")
        if int(number) in depths:
            raise NeedleSpecError(f"--depths: {part!r} is given twice")
        depths.append(int(number))
    return tuple(sorted(depths))


def _parts(text: str, option: str) -> list[str]:
    parts = [part.strip() for part in text.split(",")]
    if not text.strip():
        raise NeedleSpecError(f"{option}: give at least one value")
    if "" in parts:
        raise NeedleSpecError(f"{option}: an empty value in {text!r} (separate values with single commas)")
    return parts


def length_label(tokens: int) -> str:
    """4096 -> "4K", 1048576 -> "1M", 1536 -> "1536": how lengths are shown and grouped."""
    if tokens % (1024 * 1024) == 0:
        return f"{tokens // (1024 * 1024)}M"
    if tokens % 1024 == 0:
        return f"{tokens // 1024}K"
    return str(tokens)


@dataclass(frozen=True, order=True)
class GridCell:
    """One cell of the grid, asked once: a length, a depth (percent) and which repeat."""

    length: int
    depth: int
    repeat: int
    haystack: str | None = None  # the first 8 hex digits of a user's haystack document; None: generated

    @property
    def item_id(self) -> str:
        suffix = f"-H{self.haystack}" if self.haystack else ""
        return f"L{self.length}-D{self.depth}-R{self.repeat}{suffix}"

    @property
    def category(self) -> str:
        """The stored turn's category: the length, so the report's accuracy by category is by length."""
        return f"needle-{length_label(self.length)}"

    @property
    def code(self) -> str:
        # A string seed is hashed the same way in every run and on every machine.
        return str(random.Random(f"needle:{self.length}:{self.depth}:{self.repeat}").randint(1000, 9999))

    @property
    def needle(self) -> str:
        return f"The vault code is {self.code}."

    def prompt_item(self) -> PromptItem:
        """The cell as a prompt-set item, so the turn lifecycle checks and stores the verdict."""
        return PromptItem(id=self.item_id, category=self.category, difficulty="medium", language="en",
                          prompt=QUESTION, references=[self.code], tags=["needle"])


def parse_cell_id(item_id: str) -> GridCell | None:
    """The cell a stored item id names, or None for an id that is not a needle cell's."""
    match = _CELL_ID.fullmatch(item_id)
    if match is None:
        return None
    return GridCell(int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4))


@dataclass(frozen=True)
class NeedleGridSpec:
    lengths: tuple[int, ...]
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    repeats: int = 1

    def __post_init__(self) -> None:
        if not self.lengths or not self.depths:
            raise NeedleSpecError("a grid needs at least one length and one depth")
        if self.repeats < 1:
            raise NeedleSpecError(f"--repeats: {self.repeats} (at least 1)")

    @classmethod
    def parse(cls, lengths: str, depths: str = "0,25,50,75,100", repeats: int = 1) -> NeedleGridSpec:
        return cls(parse_lengths(lengths), parse_depths(depths), repeats)

    def cells(self, haystack: str | None = None) -> list[GridCell]:
        """Every cell, shortest lengths first (they are quick and show early whether all is well)."""
        return [GridCell(length, depth, repeat, haystack)
                for length in self.lengths for depth in self.depths for repeat in range(self.repeats)]


@dataclass(frozen=True)
class Filler:
    """Filler text and the places a needle may go: the character offsets after each sentence
    (0 and the end included)."""

    text: str
    boundaries: tuple[int, ...]


# Sentence ends: a full stop, question or exclamation mark before white space, CJK ones anywhere,
# and blank lines (headings and list items end without a full stop).
_SENTENCE_END = re.compile(r"[.!?](?=\s)|[。！？]|\n(?=[ \t]*\n)")


@dataclass(frozen=True)
class HaystackSource:
    """Where the filler comes from: the generated haystack's words (``text`` None), or a user's
    own document (its extracted text), repeated as often as a length needs."""

    name: str = "generated"
    text: str | None = None
    document_id: str | None = None  # SHA-256 of the user's file

    @property
    def key(self) -> str | None:
        """What tells the cells of this haystack apart in the store (None: generated)."""
        return self.document_id[:8] if self.document_id else None

    def filler(self, size: int, seed: int) -> Filler:
        """At least about ``size`` words of filler; a larger size extends the same text."""
        if self.text is None:
            return _generated(size, seed)
        return _repeated(self.text, size)


def _generated(words: int, seed: int) -> Filler:
    # The same seed always gives the same sentences in the same order, so a longer filler begins
    # with the shorter one: the lengths of one repeat share their opening text.
    rng = random.Random(seed)
    text, boundaries, count, sentences = "", [0], 0, 0
    while count < words:
        length = rng.randint(8, 16)
        sentence = " ".join(rng.choices(WORDS, k=length)).capitalize() + "."
        # Paragraphs of ten sentences, as the generated haystack of the prompt sets has.
        separator = "" if not text else ("\n\n" if sentences % 10 == 0 else " ")
        text += separator + sentence
        boundaries.append(len(text))
        count += length
        sentences += 1
    return Filler(text, tuple(boundaries))


def _repeated(document: str, size: int) -> Filler:
    document = document.strip()
    if not document:
        raise NeedleSpecError("--haystack: the document has no text")
    ends = [m.end() for m in _SENTENCE_END.finditer(document)]
    if not ends:  # one long run of text: lines, else words, are the only places to put the needle
        ends = [m.start() for m in re.finditer(r"\n", document)] or [m.start() for m in re.finditer(r"\s", document)]
    # About four characters a token: the grower corrects the estimate from the counted tokens.
    copies = max(1, math.ceil(size * 4 / len(document)))
    text = "\n\n".join([document] * copies)
    step = len(document) + 2
    boundaries = sorted({0, len(text)} | {copy * step + end for copy in range(copies) for end in ends}
                        | {copy * step + len(document) for copy in range(copies)})
    return Filler(text, tuple(b for b in boundaries if b <= len(text)))


GENERATED = HaystackSource()  # the generated haystack's words


@dataclass(frozen=True)
class BuiltHaystack:
    """A haystack built with one backend's tokenizer."""

    text: str
    tokens: int  # encode(text) with that backend: the length asked for, unless it could not be reached
    target: int  # the length asked for
    needle_at: int  # tokens of the text before the needle
    needle_tokens: int

    @property
    def exact(self) -> bool:
        return self.tokens == self.target

    @property
    def depth(self) -> float:
        """Where the needle ended up: the share (0-1) of the other tokens that come before it."""
        rest = self.tokens - self.needle_tokens
        return min(self.needle_at / rest, 1.0) if rest > 0 else 0.0


def _join(*parts: str) -> str:
    """The parts with one space between them. Only the inner edges are stripped: a cut that starts
    or ends on a white-space token would otherwise lose that token, and some counts could never
    be reached."""
    kept = [part for part in parts if part.strip()]
    if len(kept) < 2:
        return "".join(kept)
    return " ".join([kept[0].rstrip(), *(part.strip() for part in kept[1:-1]), kept[-1].lstrip()])


async def build_haystack(
    backend: Backend, tokens: int, needle: str, depth: int, source: HaystackSource = GENERATED,
    seed: int = 0,
) -> BuiltHaystack:
    """A document of ``tokens`` tokens by ``backend.encode`` with ``needle`` at ``depth`` percent.

    Raises TokenCountUnavailable when the backend cannot count, NeedleSpecError when the length
    cannot hold the needle."""
    needle = needle.strip()
    needle_tokens = len(await backend.encode(needle))
    budget = tokens - needle_tokens  # filler tokens
    if budget < 1:
        raise NeedleSpecError(f"{tokens} tokens cannot hold the needle ({needle_tokens} tokens)")
    filler, ids = await _enough_filler(backend, source, seed, budget + _SLACK)

    if depth >= 100:
        # The needle last; the filler's last tokens before it, cut at a token boundary at the start.
        async def assemble(keep: int) -> tuple[str, int]:
            before = (await backend.decode(ids[len(ids) - keep:])).rstrip() if keep else ""
            return _join(before, needle), len(before) + 1 if before.strip() else 0

        text, count, at = await _fit(backend, assemble, budget, len(ids), tokens)
    else:
        goal = round(depth / 100 * budget)
        cut = await _boundary_near(backend, filler, goal, budget)
        head = filler.text[:cut].strip()
        head_tokens = len(await backend.encode(head)) if head else 0
        after = await backend.encode(filler.text[cut:])

        async def assemble(keep: int) -> tuple[str, int]:
            tail = await backend.decode(after[:keep]) if keep else ""
            return _join(head, needle, tail), len(head) + 1 if head else 0

        text, count, at = await _fit(backend, assemble, max(budget - head_tokens, 0), len(after), tokens)
    needle_at = len(await backend.encode(text[:at].strip())) if at else 0
    return BuiltHaystack(text, count, tokens, needle_at, needle_tokens)


async def _enough_filler(backend: Backend, source: HaystackSource, seed: int, need: int) -> tuple[Filler, list[int]]:
    size = need
    for _ in range(_GROWING_ROUNDS):
        filler = source.filler(size, seed)
        ids = await backend.encode(filler.text)
        if len(ids) >= need:
            return filler, ids
        # Grow by what the tokenizer showed (a short-vocabulary tokenizer splits words into pieces).
        size = math.ceil(size * need / max(len(ids), 1) * 1.1) + 16
    raise NeedleSpecError(f"could not make {need:,} tokens of filler from {source.name}")


async def _boundary_near(backend: Backend, filler: Filler, goal: int, budget: int) -> int:
    """The sentence boundary whose text before it counts nearest ``goal`` tokens (never more than
    ``budget``): a binary search, the counts growing with the offset."""

    async def before(index: int) -> int:
        head = filler.text[:filler.boundaries[index]].strip()
        return len(await backend.encode(head)) if head else 0

    low, high = 0, len(filler.boundaries) - 1  # before(low) <= goal holds: before(0) == 0
    while low < high:
        middle = (low + high + 1) // 2
        if await before(middle) <= goal:
            low = middle
        else:
            high = middle - 1
    if low + 1 < len(filler.boundaries):
        below, above = await before(low), await before(low + 1)
        if above <= budget and above - goal < goal - below:
            return filler.boundaries[low + 1]
    return filler.boundaries[low]


async def _fit(
    backend: Backend, assemble: Callable[[int], Awaitable[tuple[str, int]]], start: int, limit: int, target: int,
) -> tuple[str, int, int]:
    """Text of exactly ``target`` tokens, keeping ``keep`` tokens of the cut part: from ``start``,
    corrected by the difference re-encoding shows, then the neighbours of the nearest tried.
    Returns the text, its count and the needle's character offset."""
    tried: dict[int, tuple[int, str, int]] = {}

    async def attempt(keep: int) -> int:
        text, at = await assemble(keep)
        count = len(await backend.encode(text))
        tried[keep] = (count, text, at)
        return count

    keep = min(max(start, 0), limit)
    for _ in range(_FITTING_ROUNDS):
        count = await attempt(keep)
        if count == target:
            break
        keep = min(max(keep + target - count, 0), limit)
        if keep in tried:
            break
    if all(count != target for count, _, _ in tried.values()):
        nearest = min(tried, key=lambda k: (abs(tried[k][0] - target), tried[k][0] > target))
        for keep in _around(nearest, limit):
            if keep not in tried and await attempt(keep) == target:
                break
    best = min(tried, key=lambda k: (abs(tried[k][0] - target), tried[k][0] > target))
    count, text, at = tried[best]
    return text, count, at


def _around(keep: int, limit: int, reach: int = 3) -> Sequence[int]:
    return [k for step in range(1, reach + 1) for k in (keep - step, keep + step) if 0 <= k <= limit]
