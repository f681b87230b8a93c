"""Synthetic battles with known true strengths, for the correctness tests and `bench stats`.

Outcomes follow the Bradley-Terry model on the Elo scale (DESIGN.md): P(a beats b) =
1 / (1 + 10 ** ((R_b - R_a) / 400)). A fraction of votes can be ties; a tie is drawn independently
of strength, which pulls fitted ratings towards each other, so tests of interval coverage use none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from playground.stats.bradley_terry import BASE, INIT, SCALE


def true_ratings(n_models: int, spread: float = 100.0) -> dict[str, float]:
    """Models ``model-00``, ``model-01`` ... rated ``spread`` apart, centred on 1000."""
    values = np.arange(n_models)[::-1] * spread
    values = values - values.mean() + INIT
    return {f"model-{i:02d}": float(v) for i, v in enumerate(values)}


def simulate_battles(
    ratings: dict[str, float], n: int, rng: np.random.Generator, tie_rate: float = 0.0
) -> list[tuple[str, str, str]]:
    """``n`` votes (model_a, model_b, winner) between random pairs, sides random."""
    models = list(ratings)
    strength = np.array([ratings[m] for m in models])
    a = rng.integers(0, len(models), n)
    b = (a + rng.integers(1, len(models), n)) % len(models)  # any other model, uniformly
    p_a = 1.0 / (1.0 + BASE ** ((strength[b] - strength[a]) / SCALE))
    a_wins = rng.random(n) < p_a
    tie = rng.random(n) < tie_rate
    winners = np.where(tie, "tie", np.where(a_wins, "model_a", "model_b"))
    return [(models[i], models[j], str(w)) for i, j, w in zip(a, b, winners)]


async def store_battles(
    db: Any, battles: list[tuple[str, str, str]], raters: int = 5, chunk: int = 5000, seed: int = 0
) -> None:
    """Write ``battles`` as the app would have stored them (a blind one-turn conversation per
    battle: turn, both answers, the vote and both ratings), in bulk. Rater accounts
    ``rater-0`` ... must not exist yet. For the benchmark and tests of report and export."""
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from playground.store.tables import Conversation, Rater, Rating, Response, Turn, Vote, utcnow

    rng = np.random.default_rng(seed)
    start = utcnow() - timedelta(seconds=len(battles))
    async with db.transaction() as session:
        rater_ids = []
        for r in range(raters):
            rater = Rater(name=f"rater-{r}", password_hash="!synthetic: cannot log in")
            session.add(rater)
            await session.flush()
            rater_ids.append(rater.id)
        first_turn = int((await session.execute(select(func.coalesce(func.max(Turn.id), 0)))).scalar_one()) + 1
        first_response = int((await session.execute(select(func.coalesce(func.max(Response.id), 0)))).scalar_one()) + 1
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
            turn_id = first_turn + i
            rows["conv"].append({"id": conversation, "rater_id": rater, "mode": "blind", "model_a": a,
                                 "model_b": b, "revealed_at": when, "created_at": when})
            rows["turn"].append({"id": turn_id, "conversation_id": conversation, "position": 0,
                                 "prompt": f"Question {i}?", "system_prompt": "", "settings": {},
                                 "blind": True, "category": None, "created_at": when})
            for s, (side, model) in enumerate((("a", a), ("b", b))):
                response_id = first_response + 2 * i + s
                rows["resp"].append({
                    "id": response_id, "turn_id": turn_id, "side": side, "model": model,
                    "text": f"Answer of {model} to question {i}.", "reasoning": "", "status": "complete",
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
            for table, key in ((Conversation, "conv"), (Turn, "turn"), (Response, "resp"), (Vote, "vote"), (Rating, "rating")):
                await session.execute(insert(table.__table__), rows[key])  # type: ignore[attr-defined]
    if db.engine.dialect.name == "postgresql":
        # Ids were given explicitly: move the sequences past them for rows added later.
        from sqlalchemy import text

        async with db.transaction() as session:
            for table in ("turns", "responses"):
                await session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                ))
