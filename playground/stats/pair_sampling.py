"""Which pair of models to ask next: the probabilities of the arena's pair policies.

``uniform``: every unordered pair of the arena's models alike. ``adaptive``: the pairs whose next
battle narrows the leaderboard's widest intervals most, like the active sampling of Chatbot Arena
(Chiang et al. 2024, "Chatbot Arena: an open platform for evaluating LLMs by human preference",
section 5: sample a pair in proportion to how much one more battle shrinks its interval) and
lmarena's boost of new models (a model with few battles has the widest interval, so it is asked
most until it has caught up):

* the ratings and their covariance come from a Laplace approximation of the Bradley-Terry fit
  (the same likelihood and weak prior as :mod:`playground.stats.bradley_terry`, the covariance
  the inverse of the observed information), centred like the leaderboard's ratings;
* ``gain`` of a pair (i, j): how much one more battle between i and j lowers the variance of each
  model's rating (exact for one battle: Sherman-Morrison with the battle's information
  p (1 - p)), summed over models weighted by (variance / widest variance) ** WIDEST_POWER, so the
  models with the widest intervals count most;
* ``overlap`` of a pair: 2 * Phi(-|R_i - R_j| / sd(R_i - R_j)), 1 when the two ratings cannot be
  told apart, near 0 when their order is settled; the score is gain * (OVERLAP_BASE + overlap);
* a floor: a share FLOOR of the probability is spread evenly over all pairs, so every pair keeps
  at least FLOOR / pairs (a fifth of its uniform share) and none is ever starved.

Votes drawn this way are still fitted by plain maximum likelihood (the likelihood of an adaptive
design that looks only at past outcomes is the same), and the leaderboard can also weight each
battle by the inverse of its pair's stored probability (``playground report --weight-by-sampling``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import cast

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from playground.arena.pairs import PairDistribution
from playground.core.config import PlaygroundConfig
from playground.core.vocabulary import PairPolicy
from playground.stats.bradley_terry import BASE, PRIOR_TIES, SCALE, score_of_a
from playground.store.database import Database
from playground.store.pair_queries import vote_cells

FLOOR = 0.2  # share of the probability spread evenly over every pair
OVERLAP_BASE = 0.5  # a settled pair still counts for its gain, a third as much as an open one
WIDEST_POWER = 16.0  # how strongly the widest intervals lead (0: the sum of all variances)
NEWTON_STEPS = 50

Pair = tuple[str, str]  # an unordered pair, names in sorted order
Cell = tuple[str, str, str, int]  # (model_a, model_b, winner, how many such votes)


def pair_key(a: str, b: str) -> Pair:
    """The unordered pair of ``a`` and ``b`` (sorted names): (x, y) and (y, x) are one pair."""
    if a == b:
        raise ValueError(f"a pair needs two different models, got {a!r} twice")
    return (a, b) if a < b else (b, a)


def all_pairs(models: Sequence[str]) -> list[Pair]:
    """Every unordered pair of ``models``, in a fixed order."""
    names = sorted(dict.fromkeys(models))
    if len(names) < 2:
        raise ValueError("pairs need at least two models")
    return list(combinations(names, 2))


def uniform_probabilities(models: Sequence[str]) -> dict[Pair, float]:
    pairs = all_pairs(models)
    return {pair: 1.0 / len(pairs) for pair in pairs}


class LaplaceFit:
    """Bradley-Terry ratings (natural-log strengths) by Newton's method with PRIOR_TIES virtual
    ties per model, and their covariance (the inverse observed information). Votes of models
    outside ``models`` are left out."""

    def __init__(self, models: Sequence[str], cells: Iterable[Cell]) -> None:
        self.models = sorted(dict.fromkeys(models))
        index = {m: i for i, m in enumerate(self.models)}
        rows = [(index[a], index[b], score_of_a(w), n) for a, b, w, n in cells
                if a in index and b in index and a != b and n > 0]
        n_models = len(self.models)
        self.a = np.array([r[0] for r in rows], dtype=np.int64)
        self.b = np.array([r[1] for r in rows], dtype=np.int64)
        self.outcome = np.array([r[2] for r in rows], dtype=float)
        self.count = np.array([r[3] for r in rows], dtype=float)
        self.battles = (np.bincount(self.a, self.count, n_models) + np.bincount(self.b, self.count, n_models))
        theta = np.zeros(n_models)
        for _ in range(NEWTON_STEPS):
            p = expit(theta[self.a] - theta[self.b])
            residual = self.count * (self.outcome - p)
            gradient = (np.bincount(self.a, residual, n_models) - np.bincount(self.b, residual, n_models)).astype(float)
            gradient += PRIOR_TIES * (0.5 - expit(theta))
            step = np.clip(np.linalg.solve(self._information(theta), gradient), -2.0, 2.0)
            theta += step
            if np.max(np.abs(step)) < 1e-9:
                break
        self.theta: np.ndarray = theta - theta.mean()
        covariance = np.linalg.inv(self._information(theta))
        centre = np.eye(n_models) - 1.0 / n_models
        self.covariance: np.ndarray = covariance  # of the raw strengths (pair differences)
        self.centred: np.ndarray = centre @ covariance @ centre  # of the ratings as the leaderboard centres them

    def _information(self, theta: np.ndarray) -> np.ndarray:
        n_models = len(self.models)
        p = expit(theta[self.a] - theta[self.b])
        w = self.count * p * (1 - p)
        information = np.zeros((n_models, n_models))
        np.add.at(information, (self.a, self.a), w)
        np.add.at(information, (self.b, self.b), w)
        np.add.at(information, (self.a, self.b), -w)
        np.add.at(information, (self.b, self.a), -w)
        q = expit(theta)
        information[np.diag_indices(n_models)] += PRIOR_TIES * q * (1 - q)
        return information

    def interval_widths(self) -> dict[str, float]:
        """Each model's 95% interval width on the Elo scale (normal approximation)."""
        sd = np.sqrt(np.clip(np.diag(self.centred), 0.0, None))
        return {m: float(2 * 1.96 * s * SCALE / np.log(BASE)) for m, s in zip(self.models, sd, strict=True)}


def adaptive_probabilities(models: Sequence[str], cells: Iterable[Cell]) -> dict[Pair, float]:
    """Each unordered pair's probability under the adaptive policy, from the stored votes
    ``cells`` (counts per model_a, model_b, winner). See the module's docstring."""
    pairs = all_pairs(models)
    fit = LaplaceFit(models, cells)
    index = {m: i for i, m in enumerate(fit.models)}
    i = np.array([index[a] for a, _ in pairs])
    j = np.array([index[b] for _, b in pairs])
    cov = fit.covariance
    difference_var = cov[i, i] + cov[j, j] - 2 * cov[i, j]
    p = expit(fit.theta[i] - fit.theta[j])
    information = p * (1 - p)
    # One more battle between i and j adds information along u = e_i - e_j; the centred
    # covariance falls by w (P C u)(P C u)^T / (1 + w u^T C u) (Sherman-Morrison).
    n_models = len(fit.models)
    centre = np.eye(n_models) - 1.0 / n_models
    moved = (centre @ cov)[:, i] - (centre @ cov)[:, j]  # P C u for every pair, one column each
    variance = np.diag(fit.centred)
    lead = (variance / variance.max()) ** WIDEST_POWER
    gain = information * (lead @ moved**2) / (1 + information * difference_var)
    overlap = 2 * norm.sf(np.abs(fit.theta[i] - fit.theta[j]) / np.sqrt(difference_var))
    score = gain * (OVERLAP_BASE + overlap)
    total = score.sum()
    share = score / total if total > 0 and np.isfinite(total) else np.full(len(pairs), 1.0 / len(pairs))
    probabilities = (1 - FLOOR) * share + FLOOR / len(pairs)
    probabilities = probabilities / probabilities.sum()
    return {pair: float(q) for pair, q in zip(pairs, probabilities, strict=True)}


def pair_probabilities(policy: str, models: Sequence[str], cells: Iterable[Cell] = ()) -> dict[Pair, float]:
    """The probabilities of ``policy`` (uniform or adaptive) over the pairs of ``models``."""
    if policy == "uniform":
        return uniform_probabilities(models)
    if policy == "adaptive":
        return adaptive_probabilities(models, cells)
    raise ValueError(f"not a drawing pair policy: {policy!r} (uniform or adaptive)")


async def arena_pair_distribution(
    db: Database, config: PlaygroundConfig, policy: str | None = None
) -> PairDistribution:
    """The arena's pair probabilities now: its fixed pair, or ``policy`` (default: the config's)
    over its models, adaptive going by the blind votes stored so far."""
    arena = config.arena
    policy = policy or arena.pair_policy()
    if policy == "fixed":
        return PairDistribution.fixed(arena.model_a, arena.model_b)
    models = arena.model_names()
    cells = await vote_cells(db, models) if policy == "adaptive" else []
    return PairDistribution(cast(PairPolicy, policy), pair_probabilities(policy, models, cells))


async def batch_pair_distribution(db: Database, models: Sequence[str], policy: str) -> PairDistribution:
    """The pair probabilities of a batch run over ``models`` (uniform or adaptive), computed once
    before the run from the blind votes stored so far (a batch's own answers are not rated yet)."""
    cells = await vote_cells(db, models) if policy == "adaptive" else []
    return PairDistribution(cast(PairPolicy, policy), pair_probabilities(policy, models, cells))


def inverse_probability_weights(probabilities: Sequence[float | None]) -> list[float]:
    """Each battle's weight 1 / (its pair's sampling probability), as lmarena weights battles of
    unevenly sampled pairs, scaled to mean 1 (so the prior keeps its strength). None (a fixed pair,
    or a conversation from before pairs were drawn) counts as probability 1."""
    raw = [1.0 / (p if p is not None else 1.0) for p in probabilities]
    if not raw:
        return []
    mean = sum(raw) / len(raw)
    return [w / mean for w in raw]
