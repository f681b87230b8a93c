"""Connecting to the database: SQLite by default, PostgreSQL for teams; async throughout.

The URL comes from ``PLAYGROUND_DATABASE_URL`` (default: ``playground.db`` in the work folder,
see :mod:`playground.core.locations`) (``DATABASE_URL`` is Chainlit's: set, it would
switch on Chainlit's own data layer). Plain ``sqlite:///`` and ``postgresql://`` URLs are given
their async drivers (aiosqlite, asyncpg), so database work never blocks the event loop.

SQLite is set up for many writers in one process and a few processes: WAL (readers never wait
for the writer), ``synchronous=FULL`` (a committed rating survives a power cut), a busy timeout,
and ``BEGIN IMMEDIATE`` so that a transaction takes the write lock at its start: a deferred one
that reads and then writes can fail at once with "database is locked", which no timeout prevents.
Writers inside one process also queue on the event loop, so they wait their turn there instead
of in SQLite's sleeping busy handler, urgent ones (ratings, turns) before background ones
(Chainlit's history bookkeeping): :mod:`playground.store.write_queue`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from playground.core.locations import default_sqlite_path
from playground.store.sqlite_driver import one_trip_dbapi
from playground.store.write_queue import Priority, WriteQueue

DATABASE_URL_ENV = "PLAYGROUND_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 30


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
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, pool_size=5, pool_timeout=120,
        module=one_trip_dbapi(),  # a statement is one trip to SQLite's thread, not four
    )

    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Writers take the write lock up front (no deadlocking lock upgrades); a session opened
        # with Database.reading() only reads, from a WAL snapshot, and must not hold the lock
        # while it streams an export for minutes.
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


@dataclass
class Database:
    """One engine per process, shared by every Chainlit session and the data layer."""

    url: str
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    _write_queue: WriteQueue | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.url = database_url(self.url)
        self.engine = make_engine(self.url)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        if is_sqlite(self.url):
            self._write_queue = WriteQueue()

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
        if self._write_queue is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        await self._write_queue.acquire(priority)
        try:
            async with self.sessions() as session, session.begin():
                yield session
        finally:
            self._write_queue.release()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (reports, exports): on SQLite a deferred transaction that
        neither takes nor waits for the write lock, so raters keep saving while it runs."""
        async with self.sessions() as session:
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
