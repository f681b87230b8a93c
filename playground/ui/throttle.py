"""Merge many small changes into at most a few redraws a second.

Chainlit re-sends every prop of a custom element on each ``update()`` and the browser re-renders
it, so streaming 500 tokens a second token by token would flood both. The throttle runs the
redraw at most once per ``min_interval`` while changes keep coming, always shows the latest
state, and never leaves a change undrawn: :meth:`close` draws the final state once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# The app's pane redraw interval: at most ~12 redraws a second per turn, whatever the token rate.
REDRAW_INTERVAL_S = 0.08


class RedrawThrottle:
    def __init__(
        self,
        redraw: Callable[[], Awaitable[None]],
        min_interval: float = REDRAW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redraw = redraw
        self.min_interval = min_interval
        self._clock = clock
        self._dirty = asyncio.Event()
        self._last = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.redraws = 0

    def changed(self) -> None:
        """Something to show: drawn within ``min_interval``, merged with what follows."""
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redraw-throttle")

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            wait = self._last + self.min_interval - self._clock()
            if wait > 0 and not self._closing:
                await asyncio.sleep(wait)
            self._dirty.clear()
            await self._draw()
            # A draw reads the state when it starts: a change (or close()) that came while it
            # was being sent is still undrawn, so only an idle throttle may stop.
            if self._closing and not self._dirty.is_set():
                return

    async def _draw(self) -> None:
        self._last = self._clock()
        self.redraws += 1
        await self._redraw()

    async def close(self) -> None:
        """Draw the final state once, after any redraw in flight (never cut one in half)."""
        self._closing = True
        if self._task is None:
            await self._draw()
            return
        self._dirty.set()
        await self._task
        self._task = None
