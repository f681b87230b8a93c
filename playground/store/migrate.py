"""Alembic migrations, run from code: ``playground db upgrade`` and the app's start-up check.

The history lives in ``playground/store/migrations`` (an append-only list of named steps; the
database records the applied one in ``alembic_version``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from playground.store.database import Database, is_sqlite, make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(database: Database, revision: str = "head") -> None:
    if not is_sqlite(database.url):
        async with database.engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
        return
    # SQLite: a connection with foreign keys off (a table is altered by copying it), and the
    # integrity checked before the migration commits.
    engine = make_engine(database.url, foreign_keys=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
            broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if broken:
                raise RuntimeError(f"the migration would break foreign keys: {broken[:5]}")
    finally:
        await engine.dispose()


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def check_at_head(database: Database) -> None:
    """Refuse to run on a database older (or newer) than this code, with what to do."""
    current = await current_revision(database)
    head = head_revision()
    if current != head:
        raise RuntimeError(
            f"the database at {database.engine.url.render_as_string(hide_password=True)} is at "
            f"revision {current or 'none (empty)'}, this playground needs {head}: "
            "run `playground db upgrade`"
        )
