"""Merge many small changes into a few redraws a second, each worth its bytes.

Each redraw of the panes sends a small event (``pane_delta``) whose constant part (ids, keys,
closing tags) is tens of bytes: redrawing a slow stream every 80 ms would send one token per event
and the overhead would outweigh the text. So a redraw waits until

- at least ``min_interval`` has passed since the last one, and enough new text is pending
  (``min_chars``), or
- ``max_latency`` has passed since the first undrawn change (a slow stream still moves), or
- at once (``min_interval`` apart) for a change that matters by itself: a status, an error, the
  first text of a pane, the context line: :meth:`RedrawThrottle.changed` without ``chars``.

It always shows the latest state and never leaves a change undrawn: :meth:`close` draws the final
state once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# The app's pane redraw interval: at most ~12 redraws a second per turn, whatever the token rate.
REDRAW_INTERVAL_S = 0.08
# Below this much new text a redraw waits (up to MAX_LATENCY_S) for more. Each redraw costs about
# 70 bytes on the websocket besides its text: at 20-50 tokens/s per answer, 40 characters and
# 0.3 s sent 2.5x the answers' HTML, 64 and 0.4 s send 2x (a slow answer then grows in
# phrases, 2-3 times a second; a fast one still every 80 ms).
MIN_CHARS = 64  # both panes together: about 8 tokens each
MAX_LATENCY_S = 0.4


@dataclass(frozen=True)
class RedrawPolicy:
    min_interval: float = REDRAW_INTERVAL_S
    min_chars: int = MIN_CHARS
    max_latency: float = MAX_LATENCY_S

    def due(self, last: float, first_pending: float, pending_chars: int, urgent: bool) -> float:
        """When the pending changes should be drawn (clock time)."""
        soonest = last + self.min_interval
        if urgent or pending_chars >= self.min_chars:
            return soonest
        return max(soonest, first_pending + self.max_latency)


class RedrawThrottle:
    def __init__(
        self,
        redraw: Callable[[], Awaitable[None]],
        min_interval: float = REDRAW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        min_chars: int = MIN_CHARS,
        max_latency: float = MAX_LATENCY_S,
    ) -> None:
        self._redraw = redraw
        self.policy = RedrawPolicy(min_interval, min_chars, max_latency)
        self._clock = clock
        self._dirty = False
        self._last = float("-inf")
        self._first: float | None = None  # when the oldest undrawn change came
        self._chars = 0
        self._urgent = False
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # What the drawing task sleeps on, and until when: a change wakes it only when it brings
        # that time forward. Woken for every token (a task and a timer per wake, under
        # asyncio.wait_for), 100 streams cost about a tenth of the app's loop.
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_until = math.inf
        self.redraws = 0
        self.wakes = 0  # early wakes of the drawing task (by changes that made a draw due sooner)

    @property
    def min_interval(self) -> float:
        return self.policy.min_interval

    def changed(self, chars: int | None = None) -> None:
        """Something to show: ``chars`` new characters of text (merged with what follows until
        there are enough), or, without ``chars``, a change drawn as soon as ``min_interval`` allows."""
        if self._first is None:
            self._first = self._clock()
        if chars is None:
            self._urgent = True
        else:
            self._chars += chars
        self._dirty = True
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redraw-throttle")
        elif self._due() < self._waiting_until:
            self._wake()

    def _due(self) -> float:
        first = self._first if self._first is not None else self._clock()
        return self.policy.due(self._last, first, self._chars, self._urgent)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self.wakes += 1
            self._waiter.set_result(None)

    async def _sleep_until(self, due: float) -> None:
        """Until ``due`` (clock time; inf: until woken), or until :meth:`_wake`."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = None if math.isinf(due) else loop.call_later(max(due - self._clock(), 0.0), _release, waiter)
        self._waiter, self._waiting_until = waiter, due
        try:
            await waiter
        finally:
            self._waiter, self._waiting_until = None, math.inf
            if timer is not None:
                timer.cancel()

    async def _run(self) -> None:
        while True:
            if not self._dirty:
                # A draw reads the state when it starts: a change (or close()) that came while it
                # was being sent is still undrawn, so only an idle throttle may stop.
                if self._closing:
                    return
                await self._sleep_until(math.inf)
                continue
            if not self._closing:
                due = self._due()
                if due > self._clock():
                    await self._sleep_until(due)
                    continue  # woken by the time, a change that made it due sooner, or close()
            await self._draw()

    async def _draw(self) -> None:
        self._dirty = False
        self._first, self._chars, self._urgent = None, 0, False
        self._last = self._clock()
        self.redraws += 1
        await self._redraw()

    async def close(self) -> None:
        """Draw the final state once, after any redraw in flight (never cut one in half)."""
        self._closing = True
        if self._task is None:
            await self._draw()
            return
        self._dirty = True
        self._wake()
        await self._task
        self._task = None


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
