"""A backend that replays scripted events with their timings: for unit tests of the arena, the
throttle and the panes without any server, and for demos of the UI logic.

A script is a list of ``(delay_s, event)``: each event is yielded ``delay_s`` after the one
before it (on the event loop's clock, so tests can run with delays of zero). A script that does
not end with Done or ErrorEvent ends like a stream cut short, which the arena must handle. Each
call to :meth:`FakeBackend.stream` takes the next script (the last one repeats), and what it was
asked is kept in ``requests`` so a test can check the messages and parameters that reached it.

Tokens are counted without a real tokenizer, deterministically, so that context budgets and cuts
can be tested to the token:

* a token is a whitespace-separated word; ids index a vocabulary that grows on the instance as
  new words are seen, so ``decode`` is exact: ``decode(encode(text)) == " ".join(text.split())``
  (the text back, with each run of whitespace as one space);
* a prompt is ``MESSAGE_OVERHEAD`` tokens per message (as a chat template's role markers would
  be) plus the words of its contents; ``chat_template_kwargs`` change nothing;
* the context window is the ``window`` field (source "config");
* with ``counts=False`` every counting method raises TokenCountUnavailable, like a server with
  no ``/tokenize`` and no tokenizer configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from playground.backends.base import ContextWindow, TokenCountUnavailable
from playground.core.events import BackendEvent, ChatMessage, Done, FinishReason, SamplingParams, TextDelta

Script = Sequence[tuple[float, BackendEvent]]

MESSAGE_OVERHEAD = 4  # tokens per message besides its words: about ChatML's <|im_start|>role ... <|im_end|>


def words_script(text: str, delay_s: float = 0.0, finish: FinishReason = "stop") -> list[tuple[float, BackendEvent]]:
    """A script that streams ``text`` word by word, then ends normally."""
    pieces = [w + " " for w in text.split(" ")]
    pieces[-1] = pieces[-1].rstrip(" ")
    events: list[tuple[float, BackendEvent]] = [(delay_s, TextDelta(p)) for p in pieces if p]
    events.append((delay_s, Done(finish_reason=finish, output_tokens=len(events))))
    return events


@dataclass
class FakeBackend:
    name: str
    scripts: list[Script] = field(default_factory=list)
    requests: list[tuple[list[ChatMessage], SamplingParams]] = field(default_factory=list)
    closed: int = 0  # streams closed before their script ended (what Stop does)
    window: int = 4096  # the context window context_window() reports
    counts: bool = True  # False: counting raises TokenCountUnavailable
    vocabulary: list[str] = field(default_factory=list, init=False)  # token id -> word
    _ids: dict[str, int] = field(default_factory=dict, init=False, repr=False)  # word -> token id

    async def count_prompt(self, messages: list[ChatMessage], params: SamplingParams) -> int:
        self._check_counts()
        return sum(MESSAGE_OVERHEAD + len(m["content"].split()) for m in messages)

    async def encode(self, text: str) -> list[int]:
        self._check_counts()
        return [self._id(word) for word in text.split()]

    async def decode(self, tokens: list[int]) -> str:
        self._check_counts()
        unknown = [t for t in tokens if not 0 <= t < len(self.vocabulary)]
        if unknown:
            raise ValueError(f"token ids {unknown[:5]} were never given by encode() of {self.name!r}")
        return " ".join(self.vocabulary[t] for t in tokens)

    async def context_window(self) -> ContextWindow:
        return ContextWindow(self.window, "config")

    def _id(self, word: str) -> int:
        if word not in self._ids:
            self._ids[word] = len(self.vocabulary)
            self.vocabulary.append(word)
        return self._ids[word]

    def _check_counts(self) -> None:
        if not self.counts:
            raise TokenCountUnavailable(f"{self.name!r} cannot count tokens (a FakeBackend with counts=False)")

    def stream(self, messages: list[ChatMessage], params: SamplingParams) -> AsyncGenerator[BackendEvent, None]:
        index = min(len(self.requests), len(self.scripts) - 1)
        self.requests.append((list(messages), params))
        return self._replay(self.scripts[index] if self.scripts else ())

    async def _replay(self, script: Script) -> AsyncGenerator[BackendEvent, None]:
        finished = False
        try:
            for delay, event in script:
                await asyncio.sleep(delay)
                yield event
            finished = True
        finally:
            if not finished:
                self.closed += 1
