"""Synthetic battles with known true strengths, for the correctness tests and `bench stats`.

Outcomes follow the Bradley-Terry model on the Elo scale (docs/definitions.md): P(a beats b) =
1 / (1 + 10 ** ((R_b - R_a) / 400)). A fraction of votes can be ties; a tie is drawn independently
of strength, which pulls fitted ratings towards each other, so tests of interval coverage use none.
"""

from __future__ import annotations

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
    return [(models[i], models[j], str(w)) for i, j, w in zip(a, b, winners, strict=True)]
