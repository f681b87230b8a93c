"""The garbage collector's pauses in a long-running app process, and the one setting that keeps
them short.

A full (generation 2) collection walks every container object the process holds. An app process
holds a few hundred thousand of them from its imports alone (Chainlit, FastAPI, SQLAlchemy,
pydantic; transformers when a tokenizer is loaded): such a walk takes 80-160 ms on a 2-core
machine, and it stops the event loop, so every rater of the process waits. The objects made at
startup live as long as the process, so :func:`freeze_startup_objects` moves them out of the
collector's sight once the app has started (``gc.freeze()``): later full collections walk only
what was made since. :class:`GcPauses` times every collection, for ``/healthz`` and
``playground bench load``.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_KEEP_S = 600.0


def freeze_startup_objects() -> int:
    """Collect once, then freeze what survives (it lives as long as the process). Returns how
    many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@dataclass
class GcPauses:
    """Times each collection through ``gc.callbacks`` (the collector calls them on the thread
    that collects, before and after)."""

    keep_s: float = DEFAULT_KEEP_S
    clock: Callable[[], float] = time.perf_counter
    wall: Callable[[], float] = time.time
    _pauses: deque[tuple[float, int, float]] = field(default_factory=deque, init=False)  # (wall, generation, s)
    _started: float | None = field(default=None, init=False)

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
        elif self._started is not None:
            self.record(int(info.get("generation", 0)), self.clock() - self._started)
            self._started = None

    def record(self, generation: int, pause_s: float) -> None:
        now = self.wall()
        self._pauses.append((now, generation, pause_s))
        while self._pauses and self._pauses[0][0] < now - self.keep_s:
            self._pauses.popleft()

    def summary(self, since: float | None = None, window_s: float = 60.0) -> dict[str, Any]:
        """Per generation, the collections after ``since`` (wall clock; else the last
        ``window_s`` seconds): how many, their longest and their total, in milliseconds; and how
        many objects are frozen out of the collector's sight."""
        start = since if since is not None else self.wall() - window_s
        found: dict[str, Any] = {"frozen_objects": gc.get_freeze_count(), "since": round(start, 3)}
        for generation in (0, 1, 2):
            pauses = [s for at, g, s in self._pauses if g == generation and at >= start]
            found[f"gen{generation}"] = {
                "collections": len(pauses),
                "max_ms": round(max(pauses, default=0.0) * 1000, 2),
                "total_ms": round(sum(pauses) * 1000, 2),
            }
        return found
