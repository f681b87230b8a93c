"""The order in which one process's writers get SQLite's single write lock.

SQLite lets one transaction write at a time. Inside one app process the writers queue on the event
loop (not in SQLite's sleeping busy handler), and they are not all alike: a rating (the rater
waits for "Saved.") and a finished turn (the rater waits for its rating panel) are **urgent**;
Chainlit's own bookkeeping (a step row per chat message, the thread's name: the sidebar history)
is **background**: nobody waits on it. With 50 raters at once that bookkeeping is most of the
writes, and in one first-come queue a rating waited seconds behind it. Here urgent writers go
first, each kind in arrival order; background writers still get every gap (they are never dropped,
only later).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal

Priority = Literal["urgent", "background"]


class WriteQueue:
    def __init__(self) -> None:
        self._held = False
        self._waiting: dict[Priority, deque[asyncio.Future[None]]] = {"urgent": deque(), "background": deque()}

    @property
    def held(self) -> bool:
        return self._held

    def waiting(self, priority: Priority) -> int:
        return sum(1 for future in self._waiting[priority] if not future.done())

    async def acquire(self, priority: Priority = "urgent") -> None:
        if not self._held and not any(self._waiting.values()):
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[priority].append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed the lock just as it was cancelled: pass it on
            raise

    def release(self) -> None:
        for priority in ("urgent", "background"):
            queue = self._waiting[priority]
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the lock passes straight to it: still held
                    return
        self._held = False
