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
        self._dirty = asyncio.Event()
        self._wake = asyncio.Event()  # a change while waiting: the due time may come sooner
        self._last = float("-inf")
        self._first: float | None = None  # when the oldest undrawn change came
        self._chars = 0
        self._urgent = False
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.redraws = 0

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
        self._dirty.set()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redraw-throttle")

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            while not self._closing:
                first = self._first if self._first is not None else self._clock()
                wait = self.policy.due(self._last, first, self._chars, self._urgent) - self._clock()
                if wait <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
            await self._draw()
            # A draw reads the state when it starts: a change (or close()) that came while it
            # was being sent is still undrawn, so only an idle throttle may stop.
            if self._closing and not self._dirty.is_set():
                return

    async def _draw(self) -> None:
        self._dirty.clear()
        self._first, self._chars, self._urgent = None, 0, False
        self._last = self._clock()
        self.redraws += 1
        await self._redraw()

    async def close(self) -> None:
        """Draw the final state once, after any redraw in flight (never cut one in half)."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            await self._draw()
            return
        self._dirty.set()
        await self._task
        self._task = None
