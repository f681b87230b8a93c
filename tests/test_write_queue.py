"""One process's SQLite writers (playground.store.write_queue): one thread runs them whole, urgent
ones first, each kind in arrival order; writers on the event loop borrow its lock in their turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from playground.store.database import Database
from playground.store.write_queue import WriteQueue


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[tuple[Database, WriteQueue]]:
    db = Database(f"sqlite:///{tmp_path / 'writes.db'}")
    assert db._writes is not None  # SQLite: a writer thread
    await db.write(lambda session: session.execute(text("CREATE TABLE t (x INTEGER)")))
    yield db, db._writes
    await db.dispose()


def insert(x: int, threads: list[int] | None = None) -> Callable[[Session], None]:
    def work(session: Session) -> None:
        if threads is not None:
            threads.append(threading.get_ident())
        session.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
    return work


async def rows(db: Database) -> list[int]:
    async with db.reading() as session:
        return list((await session.execute(text("SELECT x FROM t ORDER BY rowid"))).scalars().all())


async def test_urgent_writers_go_before_waiting_background_ones_and_nobody_is_dropped(
    sqlite: tuple[Database, WriteQueue],
) -> None:
    db, queue = sqlite
    threads: list[int] = []
    async with db.transaction("background") as session:  # a write in progress: everyone else queues
        await session.execute(text("INSERT INTO t VALUES (0)"))
        tasks = [asyncio.create_task(db.write(insert(x, threads), priority))  # type: ignore[arg-type]
                 for x, priority in [(1, "background"), (2, "urgent"), (3, "background"), (4, "urgent")]]
        await asyncio.sleep(0.05)
        assert (queue.waiting("urgent"), queue.waiting("background")) == (2, 2)
        assert threads == []
    await asyncio.gather(*tasks)
    assert await rows(db) == [0, 2, 4, 1, 3]
    # Run whole in the writer thread, not on the loop (no round trip per statement through it).
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()


async def test_a_cancelled_waiter_passes_the_lock_on(sqlite: tuple[Database, WriteQueue]) -> None:
    db, queue = sqlite
    entered = asyncio.Event()

    async def borrow(x: int) -> None:
        async with db.transaction() as session:
            entered.set()
            await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})

    release = await queue.hold()  # the lock, lent: everyone else queues
    cancelled = asyncio.create_task(borrow(1))
    dropped = asyncio.create_task(db.write(insert(2)))
    later = asyncio.create_task(db.write(insert(3), "background"))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    dropped.cancel()
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(later, 10)
    assert not entered.is_set() and cancelled.cancelled() and dropped.cancelled()
    assert await rows(db) == [3]  # neither cancelled writer wrote; the one after them did


async def test_a_write_begun_is_finished_when_its_caller_stops_waiting_and_keeps_the_lock_till_then(
    sqlite: tuple[Database, WriteQueue],
) -> None:
    db, _ = sqlite
    entered, go_on = threading.Event(), threading.Event()

    def slow(session: Session) -> None:
        entered.set()
        go_on.wait(10)
        session.execute(text("INSERT INTO t VALUES (1)"))

    abandoned = asyncio.create_task(db.write(slow))
    await asyncio.to_thread(entered.wait, 10)
    abandoned.cancel()
    later = asyncio.create_task(db.write(insert(2)))
    await asyncio.sleep(0.05)
    assert abandoned.cancelled() and not later.done()  # the thread still writes: the lock stays taken
    go_on.set()
    await asyncio.wait_for(later, 10)

    def failing(session: Session) -> None:
        session.execute(text("INSERT INTO t VALUES (3)"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await db.write(failing)
    assert await rows(db) == [1, 2]  # the abandoned write committed; the failed one rolled back


async def test_the_writer_thread_ends_on_dispose_and_a_new_one_serves_later_writes(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'writes.db'}")
    await db.write(lambda session: session.execute(text("CREATE TABLE t (x INTEGER)")))
    assert db._writes is not None
    thread = db._writes._thread
    await db.dispose()
    assert thread is not None and not thread.is_alive()
    await db.write(insert(1))
    assert await rows(db) == [1]
    await db.dispose()


async def test_a_read_in_a_reader_thread_does_not_wait_for_the_writer(sqlite: tuple[Database, WriteQueue]) -> None:
    db, _ = sqlite
    await db.write(insert(1))
    threads: list[int] = []

    def read(session: Session) -> list[int]:
        threads.append(threading.get_ident())
        return list(session.execute(text("SELECT x FROM t")).scalars().all())

    async with db.transaction() as session:  # the write lock is taken, and a row not yet committed
        await session.execute(text("INSERT INTO t VALUES (2)"))
        assert await asyncio.wait_for(db.read(read), 10) == [1]  # the snapshot before it
    assert await db.read(read) == [1, 2]
    assert threads[0] != threading.get_ident()
