"""Bradley-Terry ratings with 95% intervals, and online Elo (definitions: docs/definitions.md).

Bradley-Terry: P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)), fitted on (a, b, outcome) with
both tie kinds counted as half a win for each side, each battle with its weight (1 unless given:
inverse sampling probabilities, rater-quality weights), reported on the Elo scale (rating = 400 *
log10(strength) + 1000, ratings centred on 1000). The fit is the posterior mode (MAP) under a
proper Gaussian prior on every rating, N(mean, PRIOR_SD_ELO^2): on hundreds of battles per model
it is the maximum-likelihood fit FastChat computes (within a fraction of a rating point), and a
model with a handful of battles, or one that never lost, gets a finite rating.

Intervals (INTERVAL_METHODS):
* ``laplace`` (the default): the Gaussian (Laplace) approximation of the posterior at its mode
  (the inverse Hessian of the negative log-posterior), rating +- 1.96 standard deviations, each
  model's variance its quasi-variance (see quasi_variances: var(i) + var(j) ~ var(R_i - R_j)).
  Unlike the percentile bootstrap it stays honest on a few battles: an all-win record of 8
  battles has a wide interval, not a zero-width one. Coverage in simulation
  (tests/test_stats_intervals.py): >= 0.95 for models with 5-20 battles.
* ``bootstrap``: 2.5 and 97.5 percentiles of the MAP fit over bootstrap resamples of the battles.

Battles are first counted per (model a, model b, outcome, weight) cell: the likelihood only
depends on those counts, and resampling N battles with replacement is the same as one
multinomial draw of N over the cells, so a million votes cost no more than a few hundred cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.special import expit

from playground.core.vocabulary import A_WINS, B_WINS, TIES

SCALE, BASE, INIT = 400.0, 10.0, 1000.0
# Maximum likelihood alone gives a model that never lost (or never won) an infinite rating, and
# with a handful of votes every bootstrap round agrees, so it would outrank models with hundreds
# of votes. A Gaussian prior of standard deviation 400 rating points around the mean (odds of
# 10:1 against an average model one standard deviation out) keeps such ratings finite and their
# intervals wide; with 100+ battles it moves a model by well under a rating point. Chosen by
# simulation: 95% intervals cover >= 0.95 for models with 5-20 battles whether the true ratings
# spread 50 or 300 points (a narrower prior, 150-200 points, under-covers widely spread models).
PRIOR_SD_ELO = 400.0
# The older virtual-tie prior (one tie per model with an average one), kept for the pair
# sampler's quick fit (stats/pair_sampling.py).
PRIOR_TIES = 1.0
ELO_K = 4.0
Z95 = 1.959963984540054
INTERVAL_METHODS = ("laplace", "bootstrap")
LAPLACE, BOOTSTRAP = INTERVAL_METHODS
LOGIT_PER_ELO = float(np.log(BASE)) / SCALE  # natural-log strength per rating point


def prior_variance() -> float:
    """The prior's variance in natural-log strength units."""
    return (PRIOR_SD_ELO * LOGIT_PER_ELO) ** 2


@dataclass(frozen=True)
class BattleCounts:
    """Per ordered pair (i, j): wins of i over j, counted in halves for ties."""

    models: list[str]
    pairs: np.ndarray  # (cells, 2) model indices: a, b
    outcomes: np.ndarray  # (cells,) 1.0 a won, 0.0 b won, 0.5 tie
    counts: np.ndarray  # (cells,) how many battles had this (a, b, outcome, weight)
    weights: np.ndarray | None = None  # (cells,) each of those battles' weight; None: all 1

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def weighted(self, counts: np.ndarray | None = None) -> np.ndarray:
        """The likelihood's weight of every cell: battles (or resampled battles) x their weight."""
        counts = self.counts if counts is None else counts
        return counts if self.weights is None else counts * self.weights


def score_of_a(winner: str) -> float:
    """Model a's score in one battle: 1 a win, 0 a loss, 0.5 either kind of tie."""
    if winner == A_WINS:
        return 1.0
    if winner == B_WINS:
        return 0.0
    if winner in TIES:
        return 0.5
    raise ValueError(f"not a vote: {winner!r}")


def count_battles(
    battles: Sequence[tuple[str, str, str]], weights: Sequence[float] | np.ndarray | None = None
) -> BattleCounts:
    """(model_a, model_b, winner) rows, winner one of model_a / model_b / tie / tie (bothbad);
    ``weights``: one per battle (> 0; e.g. 1 / the probability its pair was drawn), 1 if None.
    Battles of different weights are kept in different cells, so that the bootstrap resamples
    battles, each with its own weight."""
    models = sorted({m for a, b, *_ in battles for m in (a, b)})
    index = {m: i for i, m in enumerate(models)}
    if weights is not None:
        weight_list = [float(w) for w in weights]
        if len(weight_list) != len(battles):
            raise ValueError(f"{len(weight_list)} weights for {len(battles)} battles")
        if any(not w > 0 or w == float("inf") for w in weight_list):
            raise ValueError("every battle's weight must be positive and finite")
    cells: dict[tuple[int, int, float, float], int] = {}
    for k, (a, b, winner, *_) in enumerate(battles):
        key = (index[a], index[b], score_of_a(winner), 1.0 if weights is None else weight_list[k])
        cells[key] = cells.get(key, 0) + 1
    keys = list(cells)
    return BattleCounts(
        models=models,
        pairs=np.array([(a, b) for a, b, _, _ in keys], dtype=np.int64).reshape(-1, 2),
        outcomes=np.array([o for _, _, o, _ in keys], dtype=float),
        counts=np.array([cells[k] for k in keys], dtype=float),
        weights=None if weights is None else np.array([w for *_, w in keys], dtype=float),
    )


# Style coefficients (stats/style.py) get FastChat's own L2 penalty: 0.5 on the coefficient per
# standard deviation of the feature, i.e. a N(0, 2) prior on the log-odds it adds.
FEATURE_PRIOR_VARIANCE = 2.0


def _logit(n_models: int, pairs: np.ndarray, params: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    logit: np.ndarray = params[pairs[:, 0]] - params[pairs[:, 1]]
    if features is not None:
        logit = logit + features @ params[n_models:]
    return logit


def _prior_precision(n_models: int, k: int) -> np.ndarray:
    return np.concatenate([np.full(n_models, 1 / prior_variance()), np.full(k, 1 / FEATURE_PRIOR_VARIANCE)])


def _neg_log_posterior(
    n_models: int, pairs: np.ndarray, outcomes: np.ndarray, weights: np.ndarray, features: np.ndarray | None,
    params: np.ndarray,
) -> float:
    logit = _logit(n_models, pairs, params, features)
    # log(p) = -log(1 + e^-x), log(1 - p) = -log(1 + e^x): exact for any logit.
    nll = np.sum(weights * (outcomes * np.logaddexp(0, -logit) + (1 - outcomes) * np.logaddexp(0, logit)))
    k = len(params) - n_models
    return float(nll + 0.5 * np.sum(_prior_precision(n_models, k) * params * params))


def _hessian(
    n_models: int, pairs: np.ndarray, v: np.ndarray, features: np.ndarray | None, k: int
) -> np.ndarray:
    """Sum over cells of v * d d^T (d: +1 for a, -1 for b, then the features), plus the prior."""
    a, b = pairs[:, 0], pairs[:, 1]
    size = n_models + k
    hessian = np.zeros((size, size))
    cells = n_models * n_models
    block = (np.bincount(a * n_models + a, v, cells) + np.bincount(b * n_models + b, v, cells)
             - np.bincount(a * n_models + b, v, cells) - np.bincount(b * n_models + a, v, cells))
    hessian[:n_models, :n_models] = block.reshape(n_models, n_models)
    if features is not None:
        cross = np.stack([np.bincount(a, v * features[:, j], n_models) - np.bincount(b, v * features[:, j], n_models)
                          for j in range(k)], axis=1)
        hessian[:n_models, n_models:] = cross
        hessian[n_models:, :n_models] = cross.T
        hessian[n_models:, n_models:] = features.T @ (features * v[:, None])
    hessian[np.diag_indices(size)] += _prior_precision(n_models, k)
    return hessian


def fit_map(
    n_models: int, pairs: np.ndarray, outcomes: np.ndarray, weights: np.ndarray,
    features: np.ndarray | None = None, start: np.ndarray | None = None,
) -> np.ndarray:
    """The posterior mode: ``n_models`` log-strengths (natural log, mean 0), then one coefficient
    per column of ``features`` (cells x k: the log-odds of a win for model a added per unit of
    that feature). Newton's method with step halving: the negative log-posterior is strictly
    convex (the prior is proper), so it converges from anywhere, in a few steps from ``start``
    (the point fit, for bootstrap rounds)."""
    a, b = pairs[:, 0], pairs[:, 1]
    k = 0 if features is None else features.shape[1]
    precision = _prior_precision(n_models, k)
    params = np.zeros(n_models + k) if start is None else start.copy()
    value = _neg_log_posterior(n_models, pairs, outcomes, weights, features, params)
    for _ in range(100):
        p = expit(_logit(n_models, pairs, params, features))
        residual = weights * (p - outcomes)
        grad = np.empty_like(params)
        grad[:n_models] = np.bincount(a, residual, n_models) - np.bincount(b, residual, n_models)
        if features is not None:
            grad[n_models:] = features.T @ residual
        grad += precision * params
        step = np.linalg.solve(_hessian(n_models, pairs, weights * p * (1 - p), features, k), grad)
        decrease = float(grad @ step)  # the Newton decrement squared: about twice the distance to the mode
        # Relative to the posterior's size: a million votes' log-likelihood has no more digits.
        noise = 1e-12 * max(1.0, abs(value))
        if decrease < 10 * noise:
            break
        t = 1.0
        while True:
            candidate = params - t * step
            new_value = _neg_log_posterior(n_models, pairs, outcomes, weights, features, candidate)
            if new_value <= value - 0.25 * t * decrease + noise or t < 1e-6:
                break
            t /= 2
        params, value = candidate, new_value
    params[:n_models] -= params[:n_models].mean()  # the prior's mode has mean 0 already; exact
    return params


def posterior_covariance(
    n_models: int, pairs: np.ndarray, weights: np.ndarray, params: np.ndarray, features: np.ndarray | None = None
) -> np.ndarray:
    """The Laplace approximation: the inverse Hessian of the negative log-posterior at ``params``,
    the log-strength block projected onto centred ratings."""
    k = len(params) - n_models
    p = expit(_logit(n_models, pairs, params, features))
    covariance: np.ndarray = np.linalg.inv(_hessian(n_models, pairs, weights * p * (1 - p), features, k))
    size = n_models + k
    centre = np.eye(size)
    centre[:n_models, :n_models] -= 1.0 / n_models
    centred: np.ndarray = centre @ covariance @ centre.T
    return centred


def quasi_variances(covariance: np.ndarray, n_models: int) -> np.ndarray:
    """One variance per model such that var(i) + var(j) is close to the variance of the difference
    of i and j (Firth's quasi-variances, fitted by least squares on relative errors). The variance
    of a centred rating would carry every other model's uncertainty through the mean: one newcomer
    with eight battles would blur the intervals of models with thousands; the leaderboard compares
    models, and these variances describe exactly the comparisons."""
    if n_models == 1:
        return np.array([covariance[0, 0]])
    c = covariance[:n_models, :n_models]
    i, j = np.triu_indices(n_models, 1)
    difference = c[i, i] + c[j, j] - 2 * c[i, j]
    design = np.zeros((len(difference), n_models))
    design[np.arange(len(difference)), i] = 1.0
    design[np.arange(len(difference)), j] = 1.0
    relative = 1.0 / difference
    q, *_ = np.linalg.lstsq(design * relative[:, None], difference * relative, rcond=None)
    # Least squares can go below what the pairs allow (three models whose differences are not
    # additive): never below a quarter of the model's most precise comparison.
    nearest = np.full(n_models, np.inf)
    np.minimum.at(nearest, i, difference)
    np.minimum.at(nearest, j, difference)
    variances: np.ndarray = np.maximum(q, nearest / 4)
    return variances


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


def rating_rows(
    models: list[str], point: np.ndarray, lower: np.ndarray, upper: np.ndarray, played: np.ndarray
) -> list[RatingRow]:
    """Leaderboard rows (Elo scale), ranked by non-overlapping intervals, best first."""
    n = len(models)
    ranks = [1 + int(np.sum(lower > upper[i])) for i in range(n)]
    rows = [RatingRow(model=models[i], rating=float(point[i]), lower=float(lower[i]), upper=float(upper[i]),
                      rank=ranks[i], battles=int(played[i])) for i in range(n)]
    return sorted(rows, key=lambda r: -r.rating)


def battles_played(counts: BattleCounts) -> np.ndarray:
    played: np.ndarray = np.bincount(counts.pairs.ravel(), np.repeat(counts.counts, 2), len(counts.models))
    return played


def bootstrap_counts(counts: BattleCounts, rounds: int, seed: int) -> np.ndarray:
    """(rounds, cells): each round, as many battles as were cast, drawn with replacement."""
    rng = np.random.default_rng(seed)
    drawn: np.ndarray = rng.multinomial(counts.total, counts.counts / counts.counts.sum(), size=rounds).astype(float)
    return drawn


def bradley_terry(
    counts: BattleCounts, rounds: int = 100, seed: int = 0, interval: str = LAPLACE
) -> list[RatingRow]:
    """Ratings, 95% intervals (``interval``: laplace or bootstrap, ``rounds`` rounds) and ranks,
    best first."""
    if interval not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method {interval!r}: use one of {', '.join(INTERVAL_METHODS)}")
    n = len(counts.models)
    if n == 0:
        return []
    weights = counts.weighted()
    theta = fit_map(n, counts.pairs, counts.outcomes, weights)
    point = to_elo_scale(theta)
    if interval == LAPLACE:
        sd = np.sqrt(quasi_variances(posterior_covariance(n, counts.pairs, weights, theta), n)) / LOGIT_PER_ELO
        lower, upper = point - Z95 * sd, point + Z95 * sd
    else:
        samples = np.array([
            to_elo_scale(fit_map(n, counts.pairs, counts.outcomes, counts.weighted(drawn), start=theta))
            for drawn in bootstrap_counts(counts, rounds, seed)])
        lower, upper = np.percentile(samples, [2.5, 97.5], axis=0)
    return rating_rows(counts.models, point, lower, upper, battles_played(counts))


def online_elo(battles: Sequence[tuple[str, str, str]], k: float = ELO_K) -> dict[str, float]:
    """Elo updated battle by battle in the given (time) order; ties score 0.5."""
    ratings: dict[str, float] = {}
    for a, b, winner in battles:
        ra, rb = ratings.setdefault(a, INIT), ratings.setdefault(b, INIT)
        expected_a = 1 / (1 + BASE ** ((rb - ra) / SCALE))
        score_a = score_of_a(winner)
        ratings[a] = ra + k * (score_a - expected_a)
        ratings[b] = rb + k * ((1 - score_a) - (1 - expected_a))
    return dict(sorted(ratings.items(), key=lambda kv: -kv[1]))
