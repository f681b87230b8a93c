"""Bradley-Terry ratings with bootstrap intervals, and online Elo (definitions:
docs/definitions.md).

Bradley-Terry: P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)), fitted by maximum likelihood
(with the weak prior PRIOR_TIES below) on (a, b, outcome) with both tie kinds counted as half a
win for each side, reported on the Elo scale (rating = 400 * log10(strength) + 1000, ratings
centred on 1000). Intervals: 2.5 and 97.5 percentiles over bootstrap resamples of the battles.

Battles are first counted per (model a, model b) cell: the likelihood only depends on those
counts, and resampling N battles with replacement is the same as one multinomial draw of N over
the cells, so a million votes cost no more than a few hundred cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.optimize import minimize
from scipy.special import expit

from playground.core.vocabulary import A_WINS, B_WINS, TIES

SCALE, BASE, INIT = 400.0, 10.0, 1000.0
# Maximum likelihood alone gives a model that never lost (or never won) an infinite rating, and
# with a handful of votes every bootstrap round agrees, so it would outrank models with hundreds
# of votes. One virtual tie per model against an average one is a weak prior that keeps such
# ratings finite and modest; with 100+ battles a model moves by about a rating point or less.
PRIOR_TIES = 1.0
ELO_K = 4.0


@dataclass(frozen=True)
class BattleCounts:
    """Per ordered pair (i, j): wins of i over j, counted in halves for ties."""

    models: list[str]
    pairs: np.ndarray  # (cells, 2) model indices: a, b
    outcomes: np.ndarray  # (cells,) 1.0 a won, 0.0 b won, 0.5 tie
    counts: np.ndarray  # (cells,) how many battles had this (a, b, outcome)

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def _score_a(winner: str) -> float:
    """Model a's score in one battle: 1 a win, 0 a loss, 0.5 either kind of tie."""
    if winner == A_WINS:
        return 1.0
    if winner == B_WINS:
        return 0.0
    if winner in TIES:
        return 0.5
    raise ValueError(f"not a vote: {winner!r}")


def count_battles(battles: Sequence[tuple[str, str, str]]) -> BattleCounts:
    """(model_a, model_b, winner) rows, winner one of model_a / model_b / tie / tie (bothbad)."""
    models = sorted({m for a, b, _ in battles for m in (a, b)})
    index = {m: i for i, m in enumerate(models)}
    cells: dict[tuple[int, int, float], int] = {}
    for a, b, winner in battles:
        key = (index[a], index[b], _score_a(winner))
        cells[key] = cells.get(key, 0) + 1
    keys = list(cells)
    return BattleCounts(
        models=models,
        pairs=np.array([(a, b) for a, b, _ in keys], dtype=np.int64).reshape(-1, 2),
        outcomes=np.array([o for _, _, o in keys], dtype=float),
        counts=np.array([cells[k] for k in keys], dtype=float),
    )


def _fit(
    n_models: int, pairs: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """Log-strengths (natural log, mean 0) maximizing the weighted Bradley-Terry likelihood.
    ``start``: a nearby solution (the point fit, for bootstrap rounds) saves most iterations."""
    a, b = pairs[:, 0], pairs[:, 1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = expit(theta[a] - theta[b])
        eps = 1e-12
        nll = -np.sum(weights * (outcomes * np.log(p + eps) + (1 - outcomes) * np.log(1 - p + eps)))
        residual = weights * (p - outcomes)
        grad = np.bincount(a, residual, n_models) - np.bincount(b, residual, n_models)
        # The prior: PRIOR_TIES virtual ties of every model with an average one (theta 0).
        q = expit(theta)
        nll -= PRIOR_TIES * np.sum(0.5 * np.log(q + eps) + 0.5 * np.log(1 - q + eps))
        return nll, grad + PRIOR_TIES * (q - 0.5)

    x0 = np.zeros(n_models) if start is None else start
    result = minimize(loss, x0, jac=True, method="L-BFGS-B")
    theta: np.ndarray = result.x
    centred: np.ndarray = theta - theta.mean()
    return centred


def to_elo_scale(theta: np.ndarray) -> np.ndarray:
    ratings: np.ndarray = SCALE * theta / np.log(BASE) + INIT
    return ratings


class RatingRow(BaseModel):
    """One model's line of the leaderboard."""

    model_config = ConfigDict(frozen=True)

    model: str
    rating: float
    lower: float
    upper: float
    rank: int  # 1 + the number of models whose lower bound is above this one's upper bound
    battles: int


def bradley_terry(
    counts: BattleCounts, rounds: int = 100, seed: int = 0
) -> list[RatingRow]:
    """Ratings, 95% bootstrap intervals and ranks, best first."""
    n = len(counts.models)
    if n == 0:
        return []
    theta = _fit(n, counts.pairs, counts.outcomes, counts.counts)
    point = to_elo_scale(theta)
    rng = np.random.default_rng(seed)
    probabilities = counts.counts / counts.counts.sum()
    samples = np.empty((rounds, n))
    for r in range(rounds):
        resampled = rng.multinomial(counts.total, probabilities).astype(float)
        samples[r] = to_elo_scale(_fit(n, counts.pairs, counts.outcomes, resampled, start=theta))
    lower, upper = np.percentile(samples, [2.5, 97.5], axis=0)
    played = np.bincount(counts.pairs.ravel(), np.repeat(counts.counts, 2), n)
    ranks = [1 + int(np.sum(lower > upper[i])) for i in range(n)]
    ratings = [
        RatingRow(model=counts.models[i], rating=float(point[i]), lower=float(lower[i]), upper=float(upper[i]),
                  rank=ranks[i], battles=int(played[i]))
        for i in range(n)
    ]
    return sorted(ratings, key=lambda r: -r.rating)


def online_elo(battles: Sequence[tuple[str, str, str]], k: float = ELO_K) -> dict[str, float]:
    """Elo updated battle by battle in the given (time) order; ties score 0.5."""
    ratings: dict[str, float] = {}
    for a, b, winner in battles:
        ra, rb = ratings.setdefault(a, INIT), ratings.setdefault(b, INIT)
        expected_a = 1 / (1 + BASE ** ((rb - ra) / SCALE))
        score_a = _score_a(winner)
        ratings[a] = ra + k * (score_a - expected_a)
        ratings[b] = rb + k * ((1 - score_a) - (1 - expected_a))
    return dict(sorted(ratings.items(), key=lambda kv: -kv[1]))
