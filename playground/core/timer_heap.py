"""Dropping cancelled timers from the event loop's heap, as asyncio itself does and Chainlit's
event loop no longer does.

Every ``asyncio.timeout``, ``wait_for`` and anyio ``fail_after`` (httpx sets one per read of a
streamed answer) schedules a timer and cancels it when the work ends in time. asyncio leaves a
cancelled timer in its heap and, in ``BaseEventLoop._run_once``, rebuilds the heap once more than
half of it is cancelled. Chainlit applies ``nest_asyncio``, whose own ``_run_once`` drops cancelled
timers only from the top of the heap: the others stay until their deadline passes (minutes, for a
model's read timeout). With 50 raters streaming, the app's heap held 45,000 cancelled timers
after a minute, each with its context: every heap operation got slower, and every full collection
of the garbage collector walked them (about 100 ms, the whole loop waiting).

:class:`TimerHeapSweeper` does asyncio's rebuild every second on the loop it runs on. It touches
the loop's private ``_scheduled`` list the way asyncio's own code does; on a loop without one it
does nothing.
"""

from __future__ import annotations

import asyncio
import heapq
from dataclasses import dataclass
from typing import Any

from playground.core.loop_lag import LoopTask

DEFAULT_PERIOD_S = 1.0
MIN_SCHEDULED = 100  # asyncio's thresholds for the rebuild: a heap this large, half of it cancelled
MIN_CANCELLED_SHARE = 0.5


def purge_cancelled_timers(loop: asyncio.AbstractEventLoop, *, min_scheduled: int = MIN_SCHEDULED,
                           min_share: float = MIN_CANCELLED_SHARE) -> int:
    """Rebuild ``loop``'s timer heap without its cancelled timers when it has at least
    ``min_scheduled`` of which ``min_share`` are cancelled. Returns how many were dropped."""
    scheduled: Any = getattr(loop, "_scheduled", None)
    if not isinstance(scheduled, list) or len(scheduled) < min_scheduled:
        return 0
    kept = [handle for handle in scheduled if not handle.cancelled()]
    dropped = len(scheduled) - len(kept)
    if dropped == 0 or dropped < min_share * len(scheduled):
        return 0
    for handle in scheduled:
        if handle.cancelled():
            handle._scheduled = False  # as asyncio marks the timers it drops
    heapq.heapify(kept)
    scheduled[:] = kept  # in place: the loop's running iteration holds this very list
    if hasattr(loop, "_timer_cancelled_count"):
        loop._timer_cancelled_count = 0
    return dropped


@dataclass
class TimerHeapSweeper(LoopTask):
    period_s: float = DEFAULT_PERIOD_S
    dropped: int = 0  # cancelled timers dropped so far (reported by /healthz)
    task_name = "timer-heap-sweeper"

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.period_s)
            self.dropped += purge_cancelled_timers(loop)

    def summary(self) -> dict[str, Any]:
        """The running loop's timers now, what was dropped, and whether its tasks are asyncio's C
        ones (the pure-Python ones: a re-entrant patch such as nest_asyncio is active)."""
        import _asyncio

        scheduled = getattr(asyncio.get_running_loop(), "_scheduled", None)
        return {"scheduled_timers": len(scheduled) if isinstance(scheduled, list) else None,
                "cancelled_timers_dropped": self.dropped,
                "c_tasks": asyncio.Task is _asyncio.Task and type(asyncio.current_task()) is _asyncio.Task}
