"""One process's SQLite writers: one thread takes them in order, urgent ones first.

SQLite lets one transaction write at a time. Inside one app process the writers queue here (not
in SQLite's sleeping busy handler), and they are not all alike: a rating (the rater waits for
"Saved.") and a finished turn (the rater waits for its rating panel) are **urgent**; Chainlit's
own bookkeeping (a step row per chat message, the thread's name: the sidebar history) is
**background**: nobody waits on it. With 50 raters at once that bookkeeping is most of the writes,
and in one first-come queue a rating waited seconds behind it. Here urgent writers go first, each
kind in arrival order; background writers still get every gap (they are never dropped, only later).

The queue is served by one thread, which runs a write **job** (a function of a plain session, one
transaction) whole, and then takes the next job itself. On a loop busy with 100 streams, a job
that went through the loop (a round trip per statement through aiosqlite's thread, a wake-up to
hand the lock on) cost several of the loop's turns; 50 finished turns queued before a rating cost
the rater seconds. A **hold** is the lock lent to a writer on the event loop (an async session's
transaction): the thread grants it and waits until that writer is done.

A caller who stops waiting for a job that has not begun drops it (nothing was written, and the
caller was never told it was); a job that has begun is finished and committed all the same.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

Priority = Literal["urgent", "background"]
PRIORITIES: tuple[Priority, ...] = ("urgent", "background")
T = TypeVar("T")


@dataclass
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    work: Callable[[Session], Any] | None  # None: a hold
    release: threading.Event | None = None

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        """Hand the outcome to the waiting coroutine, on its own loop."""

        def settle_there() -> None:
            if self.future.done():  # its caller stopped waiting
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(settle_there)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


class WriteQueue:
    """The writer thread of one SQLite database (its engine's single connection)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._jobs: dict[Priority, deque[_Job]] = {priority: deque() for priority in PRIORITIES}
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # the running thread's: set, it ends once the queue is empty

    def waiting(self, priority: Priority) -> int:
        with self._condition:
            return sum(1 for job in self._jobs[priority] if not job.future.done())

    async def run(self, work: Callable[[Session], T], priority: Priority = "urgent") -> T:
        """``work(session)`` in one transaction in the writer thread, in its turn; committed when
        this returns. Its exception rolls the transaction back and is raised here."""
        job = self._put(priority, work)
        result: T = await job.future
        return result

    async def hold(self, priority: Priority = "urgent") -> threading.Event:
        """Wait for the lock, for a writer on the event loop; set the event returned to give it back.
        A caller cancelled while waiting gives it back by itself."""
        release = threading.Event()
        job = self._put(priority, None, release)
        try:
            await job.future
        except BaseException:
            release.set()  # granted or not: the thread must not wait for a writer that is gone
            raise
        return release

    def _put(self, priority: Priority, work: Callable[[Session], Any] | None,
             release: threading.Event | None = None) -> _Job:
        loop = asyncio.get_running_loop()
        job = _Job(loop, loop.create_future(), work, release)
        with self._condition:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._serve, args=(self._stop,), name="playground-sqlite-writer", daemon=True
                )
                self._thread.start()
            self._jobs[priority].append(job)
            self._condition.notify_all()
        return job

    def _next(self, stop: threading.Event) -> _Job | None:
        with self._condition:
            while True:
                for priority in PRIORITIES:
                    if self._jobs[priority]:
                        return self._jobs[priority].popleft()
                if stop.is_set():
                    return None
                self._condition.wait()

    def _serve(self, stop: threading.Event) -> None:
        try:
            while (job := self._next(stop)) is not None:
                if job.release is not None:  # a hold: lend the lock, wait for it back
                    job.settle()
                    job.release.wait()
                    continue
                if job.future.done():  # its caller stopped waiting before it began
                    continue
                assert job.work is not None
                try:
                    with Session(self._engine, expire_on_commit=False) as session, session.begin():
                        result = job.work(session)
                except BaseException as exc:  # the caller's to handle, on its loop
                    job.settle(error=exc)
                else:
                    job.settle(result)
        finally:
            self._engine.dispose()  # its connection closes in the thread that made it

    async def close(self) -> None:
        """Finish the jobs queued, then stop the thread."""
        with self._condition:
            thread, self._thread = self._thread, None
            self._stop.set()
            self._condition.notify_all()
        if thread is not None:
            await asyncio.to_thread(thread.join)
