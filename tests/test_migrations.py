"""Migration 0005 on a database at the previous head (0004) holding data, on SQLite and
PostgreSQL: one status word, stored verdicts backfilled, nothing lost."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from playground.store.database import Database
from playground.store.migrate import check_at_head, current_revision, upgrade
from playground.store.tables import Response, Vote


async def _fill_at_0004(database: Database) -> None:
    statements = [
        "INSERT INTO raters (id, name, password_hash, is_admin, created_at) "
        "VALUES (1, 'old', 'x', false, CURRENT_TIMESTAMP)",
        "INSERT INTO conversations (id, rater_id, mode, kind, model_a, model_b, created_at) "
        "VALUES ('c1', 1, 'blind', 'chat', 'p', 'q', CURRENT_TIMESTAMP)",
        # A prompt-set turn (quick-20's math_01: reference 42), a typed one, one from a set that is gone.
        "INSERT INTO turns (id, conversation_id, position, prompt, system_prompt, settings, blind, category, "
        "prompt_set, item_id, created_at) VALUES (1, 'c1', 0, 'Calculate: 15 + 27 = ?', '', '{}', true, 'math', "
        "'quick-20', 'math_01', CURRENT_TIMESTAMP)",
        "INSERT INTO turns (id, conversation_id, position, prompt, system_prompt, settings, blind, created_at) "
        "VALUES (2, 'c1', 1, 'typed', '', '{}', true, CURRENT_TIMESTAMP)",
        "INSERT INTO turns (id, conversation_id, position, prompt, system_prompt, settings, blind, prompt_set, "
        "item_id, created_at) VALUES (3, 'c1', 2, 'q', '', '{}', true, 'renamed-set', 'x1', CURRENT_TIMESTAMP)",
    ]
    answers = {(1, "a"): ("It is 42.", "complete"), (1, "b"): ("It is 41.", "complete"),
               (2, "a"): ("hello", "complete"), (2, "b"): ("partial", "stopped"),
               (3, "a"): ("42", "error"), (3, "b"): ("42", "complete")}
    for k, ((turn, side), (answer, status)) in enumerate(answers.items(), start=1):
        statements.append(
            "INSERT INTO responses (id, turn_id, side, model, text, reasoning, status, sampling, itl_s, "
            f"output_tokens, created_at) VALUES ({k}, {turn}, '{side}', '{'p' if side == 'a' else 'q'}', "
            f"'{answer}', '', '{status}', '{{}}', '[]', 3, CURRENT_TIMESTAMP)"
        )
    statements += [
        "INSERT INTO ratings (response_id, rater_id, accuracy, fluency, comment, created_at, updated_at) "
        "VALUES (1, 1, 5, 4, 'kept', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO votes (turn_id, rater_id, winner, model_a, model_b, blind, created_at, updated_at) "
        "VALUES (1, 1, 'model_a', 'p', 'q', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    ]
    async with database.transaction() as session:
        for statement in statements:
            await session.exec(text(statement))
        if database.dialect == "postgresql":  # ids were given: move the sequences past them
            for table in ("raters", "turns", "responses"):
                await session.exec(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))


async def test_0005_renames_the_status_backfills_verdicts_and_keeps_everything(blank_db_url: str) -> None:
    database = Database(blank_db_url)
    try:
        await upgrade(database, "0004")
        await _fill_at_0004(database)
        await upgrade(database, "0005")
        assert await current_revision(database) == "0005"
        await upgrade(database)  # and on to the head: later migrations keep the data too
        await check_at_head(database)
        async with database.sessions() as session:
            responses = {(r.turn_id, r.side): r for r in (await session.exec(select(Response))).all()}
            votes = (await session.exec(select(Vote))).all()
        assert {key: r.status for key, r in responses.items()} == {
            (1, "a"): "done", (1, "b"): "done", (2, "a"): "done", (2, "b"): "stopped",
            (3, "a"): "error", (3, "b"): "done",
        }
        assert (responses[1, "a"].reference_match, responses[1, "b"].reference_match) == (True, False)
        assert responses[1, "a"].check_verdict == "✓ contains the reference answer"
        assert responses[1, "a"].check_basis == {"prompt_set": "quick-20", "item_id": "math_01",
                                                  "references": ["42"], "constraints": []}
        # A typed prompt and an item whose set is gone have nothing to check against.
        assert all(responses[key].check_verdict is None and responses[key].reference_match is None
                   for key in ((2, "a"), (2, "b"), (3, "a"), (3, "b")))
        assert [(v.turn_id, v.winner) for v in votes] == [(1, "model_a")]
        async with database.transaction() as session:
            count = (await session.exec(text("SELECT count(*) FROM ratings WHERE comment = 'kept'"))).scalar()
        assert count == 1
        # The old word is refused from now on.
        with pytest.raises(IntegrityError):
            async with database.transaction() as session:
                await session.exec(text("UPDATE responses SET status = 'complete' WHERE id = 1"))
    finally:
        await database.dispose()

