"""A backend that replays scripted events with their timings: for unit tests of the arena, the
throttle and the panes without any server, and for demos of the UI logic.

A script is a list of ``(delay_s, event)``: each event is yielded ``delay_s`` after the one
before it (on the event loop's clock, so tests can run with delays of zero). A script that does
not end with Done or ErrorEvent ends like a stream cut short, which the arena must handle. Each
call to :meth:`FakeBackend.stream` takes the next script (the last one repeats), and what it was
asked is kept in ``requests`` so a test can check the messages and parameters that reached it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from playground.core.events import BackendEvent, ChatMessage, Done, FinishReason, SamplingParams, TextDelta

Script = Sequence[tuple[float, BackendEvent]]


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
