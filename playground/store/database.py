"""Connecting to the database: SQLite by default, PostgreSQL for teams; async throughout.

The URL comes from ``PLAYGROUND_DATABASE_URL`` (default: ``playground.db`` in the work folder,
see :mod:`playground.core.locations`) (``DATABASE_URL`` is Chainlit's: set, it would
switch on Chainlit's own data layer). Plain ``sqlite:///`` and ``postgresql://`` URLs are given
their async drivers (aiosqlite, asyncpg), so database work never blocks the event loop.

SQLite is set up for many writers in one process and a few processes: WAL (readers never wait
for the writer), ``synchronous=FULL`` (a committed rating survives a power cut), a busy timeout,
and ``BEGIN IMMEDIATE`` so that a transaction takes the write lock at its start: a deferred one
that reads and then writes can fail at once with "database is locked", which no timeout prevents.
Writers inside one process queue for one writer thread, so they wait their turn there instead of
in SQLite's sleeping busy handler, urgent ones (ratings, turns) before background ones (Chainlit's
history bookkeeping): :mod:`playground.store.write_queue`.

The writes that many raters make at once (a rating, a finished turn, a new conversation,
Chainlit's bookkeeping) go through :meth:`Database.write`: a function of a plain (sync) session,
which on SQLite that thread runs whole, one job after the other. Through aiosqlite every statement
is a round trip between its thread and the event loop, and on a loop busy with 100 streams each
round trip waits for the loop's other work: with 50 raters a rating's seven statements, times the
writers queued before it, kept its "Saved." waiting seconds. Other writers (:meth:`transaction`,
an async session) borrow the lock from that thread for their transaction. On PostgreSQL the same
function runs in an async session (``run_sync``): there, writers do not queue for one lock.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from playground.core.locations import default_sqlite_path
from playground.store.write_queue import Priority, WriteQueue

DATABASE_URL_ENV = "PLAYGROUND_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 30

READER_THREADS = 4
T = TypeVar("T")


class DatabaseError(Exception):
    """A database URL that cannot be used, with what to do about it."""


def database_url(url: str | None = None) -> str:
    """The URL to use, with its async driver: the argument, the environment, or the default."""
    raw = url or os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{default_sqlite_path()}"
    try:
        parsed = make_url(raw)
    except Exception as exc:
        raise DatabaseError(f"{DATABASE_URL_ENV}: not a database URL: {raw!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise DatabaseError(
            f"{DATABASE_URL_ENV}: {backend!r} is not supported; use sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DB"
        )
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


READ_ONLY_OPTION = "playground_read_only"


def make_engine(url: str, *, foreign_keys: bool = True) -> AsyncEngine:
    if not is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, pool_size=5, pool_timeout=120
    )
    _set_up_sqlite(engine.sync_engine, foreign_keys=foreign_keys)
    return engine


def make_reader_engine(url: str, threads: int) -> Engine:
    """The SQLite engine of the reader threads: snapshot reads (a deferred BEGIN), one connection
    per thread at most; a connection is used by one thread at a time, not always the same one."""
    engine = create_engine(
        make_url(url).set(drivername="sqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=threads, max_overflow=0, execution_options={READ_ONLY_OPTION: True},
    )
    _set_up_sqlite(engine, foreign_keys=True)
    return engine


def make_writer_engine(url: str) -> Engine:
    """The SQLite engine of the writer thread: the same file and settings, the plain sqlite3 driver
    (one connection, used by that thread alone)."""
    engine = create_engine(
        make_url(url).set(drivername="sqlite"), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
        pool_size=1, max_overflow=0,
    )
    _set_up_sqlite(engine, foreign_keys=True)
    return engine


def _set_up_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        # Off only for migrations: SQLite alters a table by copying it, which a table that others
        # point at cannot survive with the checks on (integrity is checked after the migration).
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Writers take the write lock up front (no deadlocking lock upgrades); a session opened
        # with Database.reading() only reads, from a WAL snapshot, and must not hold the lock
        # while it streams an export for minutes.
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


@dataclass
class Database:
    """One engine per process, shared by every Chainlit session and the data layer."""

    url: str
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    _writes: WriteQueue | None = field(init=False, default=None)
    _reader_engine: Engine | None = field(init=False, default=None)
    _readers: ThreadPoolExecutor | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.url = database_url(self.url)
        self.engine = make_engine(self.url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        if is_sqlite(self.url):
            self._writes = WriteQueue(make_writer_engine(self.url))
            self._reader_engine = make_reader_engine(self.url, READER_THREADS)

    @classmethod
    def from_env(cls) -> Database:
        return cls(database_url())

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, priority: Priority = "urgent") -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed when the block ends, rolled back on error.
        When this returns, what was written is on disk. ``background``: a write nobody waits for
        (on SQLite it lets every urgent one go first)."""
        if self._writes is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        release = await self._writes.hold(priority)
        try:
            async with self.sessions() as session, session.begin():
                yield session
        finally:
            release.set()

    async def write(self, work: Callable[[Session], T], priority: Priority = "urgent") -> T:
        """``work(session)`` in one transaction, committed (on disk) when this returns; its
        exception rolls the transaction back and is raised here. ``work`` must not touch the
        event loop: on SQLite it runs in the writer thread, in its turn in the write queue."""
        if self._writes is None:
            async with self.sessions() as session, session.begin():
                # sqlmodel's AsyncSession runs it in its sync session, a sqlmodel Session.
                return await session.run_sync(lambda sync: work(cast(Session, sync)))
        return await self._writes.run(work, priority)

    async def read(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` on a snapshot, without the write lock; on SQLite whole in a reader
        thread (one hand-over, not a round trip per statement through a busy loop, and no wait
        for one of the async engine's few connections)."""
        if self._reader_engine is None:
            async with self.reading() as session:
                return await session.run_sync(lambda sync: work(cast(Session, sync)))
        if self._readers is None:
            self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="playground-sqlite-reader")
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read_in_thread, work)

    def _read_in_thread(self, work: Callable[[Session], T]) -> T:
        with Session(self._reader_engine, expire_on_commit=False) as session, session.begin():
            return work(session)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (reports, exports): on SQLite a deferred transaction that
        neither takes nor waits for the write lock, so raters keep saving while it runs."""
        async with self.sessions() as session:
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield session

    async def dispose(self) -> None:
        if self._writes is not None:
            await self._writes.close()
        if self._readers is not None:
            readers, self._readers = self._readers, None
            await asyncio.to_thread(readers.shutdown)
        if self._reader_engine is not None:
            self._reader_engine.dispose()
        await self.engine.dispose()
