"""How late the app's event loop runs its callbacks: the one figure that says whether a busy app
process still answers every rater at once.

Everything a Chainlit app does for its raters (socket.io events, pane redraws, rating commits)
runs on one asyncio loop; anything that holds it (a CPU-heavy call, a lock held across the GIL by
a model in the same process) delays every session. :class:`LoopLagMonitor` sleeps ``period_s``
over and over and records how much later than asked it woke up, keeping the last ``keep_s``
seconds of samples. ``/healthz`` reports the recent percentiles, and ``playground bench load``
reads them for its run (``since``: the samples after a wall-clock time).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_PERIOD_S = 0.01
DEFAULT_KEEP_S = 600.0  # a load benchmark's whole run, with room to spare (60,000 samples)


@dataclass
class LoopTask:
    """One background task on the running loop, started and stopped by the app (a subclass
    gives ``_run`` and ``task_name``)."""

    _task: asyncio.Task[None] | None = field(default=None, init=False)
    task_name = "loop-task"

    def start(self) -> None:
        """Start it on the running loop (again after a stop; twice is once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        raise NotImplementedError


@dataclass
class LoopLagMonitor(LoopTask):
    period_s: float = DEFAULT_PERIOD_S
    keep_s: float = DEFAULT_KEEP_S
    clock: Callable[[], float] = time.perf_counter
    wall: Callable[[], float] = time.time
    _samples: deque[tuple[float, float]] = field(default_factory=deque, init=False)  # (wall time, lag s)
    task_name = "loop-lag-monitor"

    async def _run(self) -> None:
        while True:
            start = self.clock()
            await asyncio.sleep(self.period_s)
            self.record(self.clock() - start - self.period_s)

    def record(self, lag_s: float) -> None:
        now = self.wall()
        self._samples.append((now, max(lag_s, 0.0)))
        while self._samples and self._samples[0][0] < now - self.keep_s:
            self._samples.popleft()

    def summary(self, since: float | None = None, window_s: float = 60.0) -> dict[str, Any]:
        """Percentiles in milliseconds of the samples after ``since`` (a wall-clock time), else of
        the last ``window_s`` seconds."""
        start = since if since is not None else self.wall() - window_s
        # Newest first, stopping at the window's start: a proxy's health poll every few seconds
        # reads the last minute, not the whole history, on the loop it measures.
        recent = []
        for at, lag in reversed(self._samples):
            if at < start:
                break
            recent.append(lag)
        lags = np.array(recent, dtype=float)
        found: dict[str, Any] = {"samples": int(lags.size), "period_ms": round(self.period_s * 1000, 1),
                                 "since": round(start, 3)}
        if lags.size:
            p50, p99 = np.percentile(lags, [50, 99]) * 1000
            found.update(p50_ms=round(float(p50), 2), p99_ms=round(float(p99), 2),
                         max_ms=round(float(lags.max()) * 1000, 2))
        return found
