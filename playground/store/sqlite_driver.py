"""SQLAlchemy's aiosqlite adapter, with one trip to SQLite's thread per statement instead of four.

aiosqlite runs SQLite in a thread of its own and hands each call back to the event loop. Through
SQLAlchemy's adapter a statement is four such calls: make a cursor, execute, fetch the rows, close
the cursor; each one waits for the loop to come round. On a loop busy with 100 streams a rating's
transaction (eight statements) held SQLite's one write lock for some thirty turns of the loop,
and every writer queued behind it waited for all of them. Here a statement is one call, run whole
in aiosqlite's thread (the cursor is made, executed, read and closed there; its description,
row count and last row id come back with the rows). The thread runs little Python (the sqlite3
module's calls), so it does not take the GIL from the loop for long: SQLAlchemy's own work stays
on the loop, as before.

Used through ``create_async_engine(url, module=one_trip_dbapi())`` (``url`` a ``sqlite+aiosqlite``
one): everything else is SQLAlchemy's aiosqlite dialect.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class _Outcome:
    """What a statement left on its cursor, read after execute (a DBAPI cursor's attributes)."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: int | None = None) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        return None  # closed already, in the thread


def _execute(connection: sqlite3.Connection, operation: str, parameters: Any,
             many: bool) -> tuple[_Outcome, list[Any] | None]:
    """In aiosqlite's thread: the whole life of one cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return _Outcome(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False  # nothing to close on the loop: the thread closed it

    def __init__(self, adapt_connection: Any) -> None:  # no cursor made in the thread up front
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Outcome()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            outcome, rows = await self._connection._execute(_execute, self._connection._conn, operation,
                                                            parameters, many)
        self._cursor = outcome
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)
        return self

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        await self._run(operation, seq_of_parameters, many=True)
        return self


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's: a forgotten connection never holds up exit
        return OneTripConnection(self, await_(connection))


def one_trip_dbapi() -> OneTripDBAPI | None:
    """The adapter, or None (SQLAlchemy's own then) where an installed aiosqlite or SQLAlchemy no
    longer has what it builds on: aiosqlite's queue into its thread and SQLAlchemy's cursor hooks."""
    needs = [(aiosqlite.Connection, "_execute"), (aiosqlite.Connection, "_conn"),
             (AsyncAdapt_aiosqlite_cursor, "_execute_async"), (AsyncAdapt_aiosqlite_cursor, "_executemany_async"),
             (AsyncAdapt_aiosqlite_connection, "_execute_mutex")]
    if not all(hasattr(owner, name) for owner, name in needs):
        return None
    return OneTripDBAPI(aiosqlite, sqlite3)
