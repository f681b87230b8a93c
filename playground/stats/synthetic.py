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


# Answer shapes a synthetic model picks from: (tokens, headers, list items, bold spans). Few and
# fixed, as real answers cluster, so that a million votes fall into a few thousand cells.
ANSWER_SHAPES = ((120, 0, 0, 0), (250, 0, 3, 1), (400, 2, 5, 2), (800, 3, 8, 4))


def simulate_styled_battles(
    ratings: dict[str, float], n: int, rng: np.random.Generator, length_bias: float = 0.0,
    shapes: dict[str, tuple[float, ...]] | None = None, tie_rate: float = 0.0,
) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """``n`` votes and both answers' styles. Each model draws its answers' shapes from
    ANSWER_SHAPES with its own probabilities (``shapes``; uniform if not given); raters add
    ``length_bias`` log-odds per unit of the normalised length difference (a - b) / (a + b + 1)
    on top of the Bradley-Terry strengths. Styles: (n, 8), a's four counts then b's (the
    AnswerStyle fields)."""
    models = list(ratings)
    strength = np.array([ratings[m] for m in models]) * np.log(BASE) / SCALE
    uniform = (1.0 / len(ANSWER_SHAPES),) * len(ANSWER_SHAPES)
    odds = np.array([(shapes or {}).get(m, uniform) for m in models])
    a = rng.integers(0, len(models), n)
    b = (a + rng.integers(1, len(models), n)) % len(models)
    cumulative = np.cumsum(odds, axis=1)
    shape_a = (rng.random(n)[:, None] > cumulative[a]).sum(axis=1)
    shape_b = (rng.random(n)[:, None] > cumulative[b]).sum(axis=1)
    table = np.array(ANSWER_SHAPES, dtype=float)
    tokens_a, tokens_b = table[shape_a, 0], table[shape_b, 0]
    logit = strength[a] - strength[b] + length_bias * (tokens_a - tokens_b) / (tokens_a + tokens_b + 1)
    a_wins = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    tie = rng.random(n) < tie_rate
    winners = np.where(tie, "tie", np.where(a_wins, "model_a", "model_b"))
    battles = [(models[i], models[j], str(w)) for i, j, w in zip(a, b, winners, strict=True)]
    shape_table = np.array(ANSWER_SHAPES, dtype=np.int64)
    return battles, np.concatenate([shape_table[shape_a], shape_table[shape_b]], axis=1)
