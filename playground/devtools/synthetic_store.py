"""Synthetic battles written to a database as the app would have stored them, in bulk: for
``bench stats`` and the tests of the report and the exports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlmodel import SQLModel

from playground.store.database import Database
from playground.store.tables import Conversation, Rater, Rating, Response, Turn, Vote, utcnow


async def store_battles(
    db: Database, battles: list[tuple[str, str, str]], raters: int = 5, chunk: int = 5000, seed: int = 0
) -> None:
    """Write ``battles`` as the app would have stored them (a blind one-turn conversation per
    battle: turn, both answers, the vote and both ratings), in bulk. Rater accounts
    ``rater-0`` ... must not exist yet. For the benchmark and tests of report and export."""
    rng = np.random.default_rng(seed)
    start = utcnow() - timedelta(seconds=len(battles))
    async with db.transaction() as session:
        rater_ids = []
        for r in range(raters):
            account = Rater(name=f"rater-{r}", password_hash="!synthetic: cannot log in")
            session.add(account)
            await session.flush()
            rater_ids.append(account.id)
        connection = await session.connection()  # Core statements: SQLAlchemy's own execute
        last_turn = (await connection.execute(select(func.max(Turn.id)))).scalar_one() or 0
        last_response = (await connection.execute(select(func.max(Response.id)))).scalar_one() or 0
    for begin in range(0, len(battles), chunk):
        rows: dict[str, list[dict[str, Any]]] = {t: [] for t in ("conv", "turn", "resp", "vote", "rating")}
        size = min(chunk, len(battles) - begin)
        scores = rng.integers(1, 6, (size, 4))
        ttft = rng.lognormal(np.log(0.2), 0.5, (size, 2))  # timings spread like real ones
        tpot = rng.lognormal(np.log(0.01), 0.3, (size, 2))
        for k, (a, b, winner) in enumerate(battles[begin:begin + chunk]):
            i = begin + k
            when = start + timedelta(seconds=i)
            rater = rater_ids[i % raters]
            conversation = f"synthetic-{i}"
            turn_id = last_turn + 1 + i
            rows["conv"].append({"id": conversation, "rater_id": rater, "mode": "blind", "model_a": a,
                                 "model_b": b, "revealed_at": when, "created_at": when})
            rows["turn"].append({"id": turn_id, "conversation_id": conversation, "position": 0,
                                 "prompt": f"Question {i}?", "system_prompt": "", "settings": {},
                                 "blind": True, "category": None, "created_at": when})
            for s, (side, model) in enumerate((("a", a), ("b", b))):
                response_id = last_response + 1 + 2 * i + s
                rows["resp"].append({
                    "id": response_id, "turn_id": turn_id, "side": side, "model": model,
                    "text": f"Answer of {model} to question {i}.", "reasoning": "", "status": "done",
                    "finish_reason": "stop", "error": None, "sampling": {},
                    "latency_s": float(ttft[k, s] + 89 * tpot[k, s]), "ttft_s": float(ttft[k, s]),
                    "tpot_s": float(tpot[k, s]), "itl_s": [], "output_tokens": 90, "prompt_tokens": 10,
                    "tokens_per_s": float(90 / (ttft[k, s] + 89 * tpot[k, s])), "created_at": when,
                })
                rows["rating"].append({"response_id": response_id, "rater_id": rater,
                                       "accuracy": int(scores[k, 2 * s]), "fluency": int(scores[k, 2 * s + 1]),
                                       "comment": "", "created_at": when, "updated_at": when})
            rows["vote"].append({"turn_id": turn_id, "rater_id": rater, "winner": winner, "model_a": a,
                                 "model_b": b, "blind": True, "created_at": when, "updated_at": when})
        async with db.transaction() as session:
            tables = ((Conversation, "conv"), (Turn, "turn"), (Response, "resp"), (Vote, "vote"), (Rating, "rating"))
            connection = await session.connection()
            for mapped, key in tables:
                # Core inserts of the plain tables: the ORM would build an object per row.
                await connection.execute(insert(SQLModel.metadata.tables[mapped.__tablename__]), rows[key])
    if db.engine.dialect.name == "postgresql":
        # Ids were given explicitly: move the sequences past them for rows added later.
        from sqlalchemy import text

        async with db.transaction() as session:
            connection = await session.connection()
            for table in ("turns", "responses"):
                await connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                ))
