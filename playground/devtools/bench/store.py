"""``playground bench store``: many raters submitting at once, on SQLite and on PostgreSQL.

Each of ``writers`` raters has a conversation of ``per_writer`` finished turns; all of them
submit a rating for every turn at the same moment (one asyncio task per rating, through the same
``submit_rating`` the app calls). Printed per database:

* ``ratings_per_s``: acknowledged submissions (each: both sides' scores and the vote, one
  transaction) per second of wall time;
* ``lost``: submissions acknowledged (returned without error) whose vote is not in the database
  afterwards, read back with a new connection. It must be 0;
* ``errors``: submissions that failed (e.g. "database is locked"); also expected to be 0.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import select

from playground.core.generation import GenerationRecord
from playground.core.vocabulary import WINNERS, Side
from playground.store.database import Database
from playground.store.migrate import upgrade
from playground.store.raters import add_rater
from playground.store.ratings import submit_rating
from playground.store.records import ensure_conversation, save_turn
from playground.store.tables import Vote


def _record(side: Side, model: str) -> GenerationRecord:
    return GenerationRecord(
        side=side, model=model, text="An answer.", reasoning="", status="done",
        finish_reason="stop", error=None, latency_s=1.0, ttft_s=0.1, tpot_s=0.01,
        itl_s=(0.01,), output_tokens=90, prompt_tokens=10, tokens_per_s=90.0,
    )


async def _seed(db: Database, writers: int, per_writer: int) -> list[tuple[int, list[int]]]:
    seeded = []
    for w in range(writers):
        rater = await add_rater(db, f"bench-{w:03d}-{uuid.uuid4().hex[:6]}", "bench-password")
        conversation = str(uuid.uuid4())
        assert rater.id is not None
        await ensure_conversation(db, conversation, rater.id, blind=True, model_a="m-a", model_b="m-b")
        turns = []
        for i in range(per_writer):
            turn = await save_turn(
                db, conversation, prompt=f"p{i}", system_prompt="", settings={},
                records={"a": _record("a", "m-a"), "b": _record("b", "m-b")}, sampling={}, message_id=None,
            )
            assert turn.id is not None
            turns.append(turn.id)
        seeded.append((rater.id, turns))
    return seeded


async def _bench_one(url: str, writers: int, per_writer: int) -> dict[str, Any]:
    db = Database(url)
    try:
        await upgrade(db)
        seeded = await _seed(db, writers, per_writer)
        acknowledged: dict[tuple[int, int], str] = {}
        errors: list[str] = []

        async def one(rater_id: int, turn_id: int, n: int) -> None:
            winner = WINNERS[n % len(WINNERS)]
            payload = {"turn_id": turn_id, "a": {"accuracy": 1 + n % 5, "fluency": 5 - n % 5},
                       "b": {"accuracy": 3, "fluency": 3}, "winner": winner, "comment": ""}
            try:
                await submit_rating(db, rater_id, payload)
            except Exception as exc:  # counted, not raised: the figure is how many fail
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            acknowledged[(turn_id, rater_id)] = winner

        jobs = [one(rater_id, turn_id, n) for rater_id, turns in seeded for n, turn_id in enumerate(turns)]
        start = time.perf_counter()
        await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - start
    finally:
        await db.dispose()

    reader = Database(url)  # a new engine: what is on disk, not what a pool remembers
    try:
        async with reader.sessions() as session:
            stored = {(v.turn_id, v.rater_id): v.winner for v in (await session.exec(select(Vote))).all()}
    finally:
        await reader.dispose()
    lost = sum(1 for key, winner in acknowledged.items() if stored.get(key) != winner)
    return {
        "ratings_per_s": round(len(acknowledged) / elapsed, 1),
        "lost": lost,
        "errors": len(errors),
        "submitted": len(jobs),
        "writers": writers,
        "seconds": round(elapsed, 3),
        **({"first_error": errors[0]} if errors else {}),
    }


async def bench_store(
    postgres_url: str | None = None, writers: int = 50, per_writer: int = 20
) -> dict[str, Any]:
    from playground.devtools.postgres_server import PostgresServer

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="playground-bench-") as tmp:
        result["sqlite"] = await _bench_one(f"sqlite:///{Path(tmp) / 'bench.db'}", writers, per_writer)
    if postgres_url:
        result["postgresql"] = await _bench_one(postgres_url, writers, per_writer)
    else:
        server = await asyncio.to_thread(PostgresServer().start)
        try:
            result["postgresql"] = await _bench_one(server.url, writers, per_writer)
        finally:
            await asyncio.to_thread(server.stop)
    return result
