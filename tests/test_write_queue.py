"""The order of one process's SQLite writers: urgent ones first, each kind in arrival order; and
Database.write, which runs a writer whole in the writer thread, in that order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from playground.store.database import Database
from playground.store.write_queue import WriteQueue


async def test_urgent_writers_go_before_waiting_background_ones_and_nobody_is_dropped() -> None:
    queue = WriteQueue()
    order: list[str] = []

    async def writer(name: str, priority: str) -> None:
        await queue.acquire(priority)  # type: ignore[arg-type]
        try:
            order.append(name)
            await asyncio.sleep(0.001)
        finally:
            queue.release()

    await queue.acquire("background")  # a write in progress: everyone else queues
    tasks = [asyncio.create_task(writer(name, priority)) for name, priority in
             [("b1", "background"), ("u1", "urgent"), ("b2", "background"), ("u2", "urgent")]]
    await asyncio.sleep(0.01)
    assert (queue.waiting("urgent"), queue.waiting("background")) == (2, 2)
    queue.release()
    await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "b1", "b2"]
    assert not queue.held


async def test_a_cancelled_waiter_passes_the_lock_on() -> None:
    queue = WriteQueue()
    await queue.acquire()
    cancelled = asyncio.create_task(queue.acquire("urgent"))
    later = asyncio.create_task(queue.acquire("background"))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    queue.release()
    await asyncio.wait_for(later, 1.0)  # not stuck behind the cancelled one
    assert queue.held
    queue.release()
    assert not queue.held


async def test_a_write_runs_whole_in_the_writer_thread_in_its_turn_and_keeps_its_place_when_cancelled(
    tmp_path: Path,
) -> None:
    """Database.write on SQLite: one hand-over to the writer thread, after the writers queued before
    it; a caller who stops waiting neither loses the write nor lets another writer in before it ends."""
    db = Database(f"sqlite:///{tmp_path / 'writes.db'}")
    queue = db._write_queue
    assert queue is not None
    try:
        await db.write(lambda session: session.execute(text("CREATE TABLE t (x INTEGER)")))
        threads: list[int] = []

        def insert(x: int) -> Callable[[Session], None]:
            def work(session: Session) -> None:
                threads.append(threading.get_ident())
                session.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
            return work

        async with db.transaction() as session:  # a writer of the async kind holds the lock
            await session.execute(text("INSERT INTO t VALUES (0)"))
            waiting = asyncio.create_task(db.write(insert(1)))
            await asyncio.sleep(0.05)
            assert threads == [] and queue.waiting("urgent") == 1
        await waiting
        assert threads and threads[0] != threading.get_ident()

        entered, go_on = threading.Event(), threading.Event()

        def slow(session: Session) -> None:
            entered.set()
            go_on.wait(10)
            session.execute(text("INSERT INTO t VALUES (2)"))

        abandoned = asyncio.create_task(db.write(slow))
        await asyncio.to_thread(entered.wait, 10)
        abandoned.cancel()
        await asyncio.sleep(0.05)
        assert abandoned.cancelled() and queue.held  # the thread still writes: the lock stays taken
        go_on.set()
        await db.write(insert(3))  # in its turn, after the abandoned write has committed

        def failing(session: Session) -> None:
            session.execute(text("INSERT INTO t VALUES (4)"))
            raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            await db.write(failing)
        async with db.reading() as session:
            rows = (await session.execute(text("SELECT x FROM t ORDER BY rowid"))).scalars().all()
        assert rows == [0, 1, 2, 3]  # the failed write was rolled back
        assert not queue.held
    finally:
        await db.dispose()
