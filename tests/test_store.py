"""The store against real SQLite and a real PostgreSQL server (each test runs on both)."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, func, select

from playground.cli.main import DEMO_RATER
from playground.store.database import Database, DatabaseError, database_url
from playground.store.migrate import check_at_head, current_revision, head_revision, upgrade
from playground.store.raters import RaterError, add_rater, authenticate, get_rater
from playground.store.ratings import RatingRefused, ratings_of_turn, submit_rating
from playground.store.tables import Conversation, Rating, Response, Turn, Vote

from .store_helpers import rater_with_turns, submission


async def count(db: Database, table: type[SQLModel]) -> int:
    async with db.sessions() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def test_blank_database_migrates_to_head_matching_the_models(blank_db_url: str) -> None:
    database = Database(blank_db_url)
    try:
        with pytest.raises(RuntimeError, match="playground db upgrade"):
            await check_at_head(database)
        await upgrade(database)
        assert await current_revision(database) == head_revision()
        await check_at_head(database)

        def differences(sync_conn):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)

        async with database.engine.connect() as conn:
            diff = await conn.run_sync(differences)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert diff == []
        assert {"raters", "conversations", "turns", "responses", "ratings", "votes"} <= tables
        assert {"users", "threads", "steps", "elements", "feedbacks"} <= tables
    finally:
        await database.dispose()


async def test_upgrade_from_the_first_schema_keeps_the_turns(blank_db_url: str) -> None:
    database = Database(blank_db_url)
    try:
        await upgrade(database, "0001")
        async with database.transaction() as session:
            await session.exec(text(
                "INSERT INTO raters (name, password_hash, is_admin, created_at) "
                "VALUES ('old', 'x', false, CURRENT_TIMESTAMP)"
            ))
            await session.exec(text(
                "INSERT INTO conversations (id, rater_id, mode, model_a, model_b, created_at) "
                "VALUES ('c1', 1, 'blind', 'p', 'q', CURRENT_TIMESTAMP)"
            ))
            await session.exec(text(
                "INSERT INTO turns (conversation_id, position, prompt, system_prompt, settings, blind, created_at) "
                "VALUES ('c1', 0, 'kept?', '', '{}', true, CURRENT_TIMESTAMP)"
            ))
        await upgrade(database)
        await check_at_head(database)
        async with database.sessions() as session:
            turn = (await session.exec(select(Turn))).one()
        assert (turn.prompt, turn.category) == ("kept?", None)
    finally:
        await database.dispose()


def test_database_urls_get_async_drivers_and_bad_ones_a_clear_error(monkeypatch) -> None:
    assert database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert database_url("postgresql://u:p@h:5/d") == "postgresql+asyncpg://u:p@h:5/d"
    monkeypatch.setenv("PLAYGROUND_DATABASE_URL", "mysql://u@h/d")
    with pytest.raises(DatabaseError, match="PLAYGROUND_DATABASE_URL: 'mysql' is not supported"):
        database_url()


async def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    async with database.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await database.dispose()


async def test_raters_have_hashed_passwords(db: Database) -> None:
    rater = await add_rater(db, "alice", "correct horse", admin=True)
    assert rater.is_admin and "correct horse" not in rater.password_hash
    assert rater.password_hash.startswith("$argon2")
    assert (await authenticate(db, "alice", "correct horse")).id == rater.id  # type: ignore[union-attr]
    assert await authenticate(db, "alice", "wrong") is None
    assert await authenticate(db, "nobody", "correct horse") is None
    with pytest.raises(RaterError, match="already exists"):
        await add_rater(db, "alice", "another password")
    with pytest.raises(RaterError, match="rater name"):
        await add_rater(db, "bad name!", "password")


async def test_rater_passwords_have_at_least_8_characters(db: Database) -> None:
    for short in ("", "demo", "7-chars"):
        with pytest.raises(RaterError, match="at least 8 characters"):
            await add_rater(db, "bob", short)
    assert await get_rater(db, "bob") is None  # nothing stored for a refused password
    assert (await add_rater(db, "bob", "8 chars!")).name == "bob"
    # The account `playground up --demo` creates obeys the same rule.
    assert (await add_rater(db, *DEMO_RATER)).name == DEMO_RATER[0]
    assert await authenticate(db, *DEMO_RATER) is not None


async def test_turns_store_both_responses_with_their_records(db: Database) -> None:
    _, turns = await rater_with_turns(db, "bob", turns=2)
    assert [t.position for t in turns] == [0, 1]
    async with db.sessions() as session:
        responses = (await session.exec(select(Response).where(Response.turn_id == turns[0].id))).all()
    assert {(r.side, r.model, r.status) for r in responses} == {("a", "m-left", "done"), ("b", "m-right", "done")}
    assert all(r.ttft_s == 0.1 and r.itl_s == [0.01, 0.02] and r.output_tokens == 91 for r in responses)


async def test_rating_is_stored_reveals_and_updates_in_place(db: Database) -> None:
    rater, turns = await rater_with_turns(db, "carol", turns=2)
    stored = await submit_rating(db, rater.id, submission(turns[0].id, comment="clear"))
    assert stored.blind and not stored.changed
    assert (stored.model_a, stored.model_b) == ("m-left", "m-right")
    assert await ratings_of_turn(db, turns[0].id, rater.id) == {  # type: ignore[arg-type]
        "winner": "model_a", "comment": "clear",
        "a": {"accuracy": 4, "fluency": 5}, "b": {"accuracy": 2, "fluency": 3},
    }
    # The acknowledgement shows what was stored without reading it back: the same values.
    assert stored.saved == await ratings_of_turn(db, turns[0].id, rater.id)  # type: ignore[arg-type]
    assert stored.checks is None  # a typed prompt has no automatic checks
    async with db.sessions() as session:
        conversation = await session.get(Conversation, turns[0].conversation_id)
    assert conversation.revealed_at is not None  # type: ignore[union-attr]

    # Changed: the same rows are updated; after the reveal the vote is no longer blind.
    again = await submit_rating(db, rater.id, submission(turns[0].id, winner="tie", a=(1, 1)))
    assert again.changed and not again.blind
    assert again.saved == await ratings_of_turn(db, turns[0].id, rater.id)  # type: ignore[arg-type]
    assert again.saved["winner"] == "tie" and again.saved["a"] == {"accuracy": 1, "fluency": 1}
    assert (await count(db, Rating), await count(db, Vote)) == (2, 1)
    async with db.sessions() as session:
        vote = (await session.exec(select(Vote))).one()
        ratings = (await session.exec(select(Rating).order_by(Rating.response_id))).all()
    assert (vote.winner, vote.blind) == ("tie", False)
    assert (ratings[0].accuracy, ratings[0].fluency) == (1, 1)
    assert ratings[0].updated_at >= ratings[0].created_at


@pytest.mark.parametrize(
    "change, message",
    [
        ({"a": {"accuracy": 6, "fluency": 3}}, "a.accuracy"),
        ({"b": {"accuracy": 3, "fluency": 0}}, "b.fluency"),
        ({"a": {"accuracy": "5", "fluency": 3}}, "a.accuracy"),
        ({"winner": "model_c"}, "winner"),
        ({"turn_id": True}, "turn_id"),
        ({"extra": 1}, "extra"),
        ({"comment": "x" * 5001}, "comment"),
    ],
)
async def test_forged_or_out_of_range_values_are_refused_and_nothing_written(
    db: Database, change: dict, message: str
) -> None:
    rater, turns = await rater_with_turns(db, "dave")
    with pytest.raises(RatingRefused, match=message):
        await submit_rating(db, rater.id, {**submission(turns[0].id), **change})
    assert (await count(db, Rating), await count(db, Vote)) == (0, 0)


async def test_unknown_and_foreign_turns_are_refused(db: Database) -> None:
    erin, erin_turns = await rater_with_turns(db, "erin")
    frank, _ = await rater_with_turns(db, "frank")
    with pytest.raises(RatingRefused, match="no turn 999"):
        await submit_rating(db, erin.id, submission(999))
    with pytest.raises(RatingRefused, match="another rater's conversation"):
        await submit_rating(db, frank.id, submission(erin_turns[0].id))
    assert (await count(db, Rating), await count(db, Vote)) == (0, 0)


async def test_a_vote_before_both_answers_ended_is_refused(db: Database) -> None:
    rater, turns = await rater_with_turns(db, "gina")
    async with db.transaction() as session:  # as if side b were still streaming: not stored yet
        response = (await session.exec(select(Response).where(Response.side == "b"))).one()
        await session.delete(response)
    with pytest.raises(RatingRefused, match="not finished on both sides"):
        await submit_rating(db, rater.id, submission(turns[0].id))
    assert await count(db, Vote) == 0


async def test_fifty_raters_rating_twenty_turns_at_once_lose_nothing(db: Database) -> None:
    raters = await asyncio.gather(*(rater_with_turns(db, f"rater{i:02d}", turns=20) for i in range(50)))
    jobs = [
        submit_rating(db, rater.id, submission(turn.id, a=(1 + i % 5, 1 + (i + 1) % 5)))  # type: ignore[arg-type]
        for rater, turns in raters
        for i, turn in enumerate(turns)
    ]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert await count(db, Vote) == 1000
    assert await count(db, Rating) == 2000  # both sides of each turn
    async with db.sessions() as session:
        duplicates = (
            await session.exec(
                select(Vote.turn_id, Vote.rater_id).group_by(Vote.turn_id, Vote.rater_id).having(func.count() > 1)
            )
        ).all()
        turns_stored = (await session.exec(select(func.count()).select_from(Turn))).one()
    assert duplicates == [] and turns_stored == 1000
