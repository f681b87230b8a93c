"""playground.store.sqlite_driver: a statement is one trip to aiosqlite's thread, and what the
cursor reports (rows, RETURNING, row counts, last row ids, executemany, errors) is as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from playground.store.database import Database
from playground.store.sqlite_driver import OneTripCursor, one_trip_dbapi


async def test_each_statement_is_one_trip_and_reports_what_a_cursor_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert one_trip_dbapi() is not None  # the installed aiosqlite and SQLAlchemy have what it needs
    db = Database(f"sqlite:///{tmp_path / 'trips.db'}")
    trips: list[str] = []
    queue_call = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await queue_call(self, fn, *args, **kwargs)

    try:
        async with db.transaction() as session:  # the connection is made, and set up, before counting
            await session.exec(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT UNIQUE)"))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with db.transaction() as session:
            cursor = (await session.connection()).sync_connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            assert isinstance(cursor, OneTripCursor)
            trips.clear()
            inserted: Any = await session.exec(text("INSERT INTO t (x) VALUES ('a')"))
            assert inserted.lastrowid == 1 and inserted.rowcount == 1
            returned = await session.exec(text("INSERT INTO t (x) VALUES ('b') RETURNING id, x"))
            assert returned.all() == [(2, "b")]
            many: Any = await session.exec(text("INSERT INTO t (x) VALUES (:x)"), params=[{"x": "c"}, {"x": "d"}])
            assert many.rowcount == 2
            updated: Any = await session.exec(text("UPDATE t SET x = x || '!' WHERE id > 2"))
            assert updated.rowcount == 2
            rows = await session.exec(text("SELECT id, x FROM t ORDER BY id"))
            assert rows.all() == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
            # Five statements, five trips (SQLAlchemy's own adapter: a cursor, execute, fetch, close).
            assert trips == ["_execute"] * 5
        with pytest.raises(IntegrityError):
            async with db.transaction() as session:
                await session.exec(text("INSERT INTO t (x) VALUES ('a')"))  # x is unique
        async with db.reading() as session:
            assert (await session.exec(text("SELECT count(*) FROM t"))).scalar() == 4
    finally:
        await db.dispose()
