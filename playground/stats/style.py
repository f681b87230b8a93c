"""Style control: Bradley-Terry with style covariates, as lmarena's style-controlled leaderboard
(FastChat's rating_systems.py, compute_style_control) does (definitions: docs/definitions.md).

Four features per battle: answer length in output tokens, markdown headers, list items and bold
spans (counted by playground.core.answer_style with FastChat's regexes). Each is the normalised
difference (a - b) / (a + b + 1) of the two answers, then standardised over the battles (mean 0,
standard deviation 1; a feature that never varies is left at 0). The model is
P(a beats b) = sigmoid(theta_a - theta_b + features . beta): the ratings are what is left once
the style's effect is taken out, and beta says how much each feature sways the raters (log-odds
per standard deviation). Ratings get the leaderboard's Gaussian prior, coefficients FastChat's L2
penalty (bradley_terry.FEATURE_PRIOR_VARIANCE); intervals as the leaderboard's (Laplace with
quasi-variances, or the percentile bootstrap).

Battles are counted per cell of identical (a, b, outcome, weight, both answers' four counts),
as the plain fit counts (a, b, outcome) cells, so that a bootstrap round costs a fit over the
distinct cells, not over every vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from playground.core.answer_style import AnswerStyle
from playground.core.vocabulary import A_WINS, B_WINS, TIES
from playground.stats.bradley_terry import (
    BOOTSTRAP,
    INTERVAL_METHODS,
    LAPLACE,
    LOGIT_PER_ELO,
    Z95,
    RatingRow,
    fit_map,
    posterior_covariance,
    quasi_variances,
    rating_rows,
    to_elo_scale,
)

STYLE_FEATURES = ("length", "headers", "lists", "bold")


class StyleCoefficient(BaseModel):
    """How much one feature sways the raters: log-odds of a win per standard deviation of its
    normalised difference, with a 95% interval; ``elo_per_sd``: the same on the rating scale."""

    model_config = ConfigDict(frozen=True)

    feature: str
    coefficient: float
    lower: float
    upper: float
    elo_per_sd: float


class StyleControl(BaseModel):
    """The style-controlled leaderboard: ratings with the style's effect taken out (best first)
    and the style coefficients, fitted on ``battles`` battles (those with both answers stored)."""

    model_config = ConfigDict(frozen=True)

    battles: int
    interval: str
    ratings: list[RatingRow]
    coefficients: list[StyleCoefficient]


@dataclass(frozen=True)
class StyledCounts:
    """Battles counted per cell of identical (a, b, outcome, weight, features)."""

    models: list[str]
    pairs: np.ndarray  # (cells, 2)
    outcomes: np.ndarray  # (cells,)
    counts: np.ndarray  # (cells,) battles in the cell
    weights: np.ndarray  # (cells,) each battle's weight
    features: np.ndarray  # (cells, 4) standardised normalised differences

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def normalised_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b + 1) per feature (columns), FastChat's ratio with add_one."""
    difference: np.ndarray = (a - b) / (a + b + 1.0)
    return difference


def standardise(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Columns to mean 0 and (population) standard deviation 1 over the battles (each row
    ``counts`` times); a column that never varies becomes 0."""
    total = counts.sum()
    mean = (values * counts[:, None]).sum(axis=0) / total
    sd = np.sqrt((((values - mean) ** 2) * counts[:, None]).sum(axis=0) / total)
    safe = np.where(sd > 0, sd, 1.0)
    standardised: np.ndarray = np.where(sd > 0, (values - mean) / safe, 0.0)
    return standardised


def _cells(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an integer matrix and how often each occurs. Columns are first
    renumbered 0..m-1 and the rows read as one mixed-radix integer, so that a million rows sort
    as one column (np.unique over rows compares them column by column, several times slower)."""
    key = np.zeros(len(rows), dtype=np.int64)
    radix = 1
    for column in rows.T:
        values, codes = np.unique(column, return_inverse=True)
        if radix * len(values) >= 2**62:
            distinct, counts = np.unique(rows, axis=0, return_counts=True)
            return distinct, counts
        key += codes.astype(np.int64) * radix
        radix *= len(values)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return rows[first], counts


_OUTCOME_CODES: dict[str, int] = {A_WINS: 2, B_WINS: 0, **{tie: 1 for tie in TIES}}  # 2 x a's score


def count_styled(
    battles: Sequence[tuple[str, str, str]],
    styles: Sequence[tuple[AnswerStyle, AnswerStyle]] | np.ndarray,
    weights: Sequence[float] | np.ndarray | None = None,
) -> StyledCounts:
    """Cells of identical battles. ``styles``: both answers' style per battle (same order), as
    pairs of AnswerStyle or an (n, 8) integer array (a's four counts, then b's)."""
    n = len(battles)
    table = np.asarray(styles, dtype=np.int64).reshape(n, 8) if n else np.zeros((0, 8), dtype=np.int64)
    models = sorted({m for a, b, *_ in battles for m in (a, b)})
    index = {m: i for i, m in enumerate(models)}
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != n or not np.all((w > 0) & np.isfinite(w)):
        raise ValueError("one positive, finite weight per battle")
    rows = np.empty((n, 12), dtype=np.int64)
    rows[:, 0] = [index[a] for a, *_ in battles]
    rows[:, 1] = [index[b] for _, b, *_ in battles]
    try:
        rows[:, 2] = [_OUTCOME_CODES[winner] for _, _, winner, *_ in battles]
    except KeyError as unknown:
        raise ValueError(f"not a vote: {unknown.args[0]!r}") from None
    rows[:, 3:11] = table
    weight_values, rows[:, 11] = np.unique(w, return_inverse=True)
    cells, counts = _cells(rows)
    counts = counts.astype(float)
    raw = normalised_differences(cells[:, 3:7].astype(float), cells[:, 7:11].astype(float))
    return StyledCounts(models=models, pairs=cells[:, :2].copy(), outcomes=cells[:, 2] / 2.0, counts=counts,
                        weights=weight_values[cells[:, 11]], features=standardise(raw, counts))


def style_controlled(counts: StyledCounts, rounds: int = 100, seed: int = 0, interval: str = LAPLACE) -> StyleControl:
    """The style-controlled ratings (Elo scale) and the coefficients, with 95% intervals."""
    if interval not in INTERVAL_METHODS:
        raise ValueError(f"unknown interval method {interval!r}: use one of {', '.join(INTERVAL_METHODS)}")
    n, k = len(counts.models), counts.features.shape[1]
    weights = counts.counts * counts.weights
    params = fit_map(n, counts.pairs, counts.outcomes, weights, features=counts.features)
    point = to_elo_scale(params[:n])
    beta = params[n:]
    if interval == LAPLACE:
        covariance = posterior_covariance(n, counts.pairs, weights, params, features=counts.features)
        sd = np.sqrt(quasi_variances(covariance, n)) / LOGIT_PER_ELO
        lower, upper = point - Z95 * sd, point + Z95 * sd
        beta_sd = np.sqrt(np.diag(covariance)[n:])
        beta_lower, beta_upper = beta - Z95 * beta_sd, beta + Z95 * beta_sd
    else:
        rng = np.random.default_rng(seed)
        drawn = rng.multinomial(counts.total, counts.counts / counts.counts.sum(), size=rounds).astype(float)
        samples = np.array([fit_map(n, counts.pairs, counts.outcomes, d * counts.weights, features=counts.features,
                                    start=params) for d in drawn])
        lower, upper = np.percentile(to_elo_scale(samples[:, :n]), [2.5, 97.5], axis=0)
        beta_lower, beta_upper = np.percentile(samples[:, n:], [2.5, 97.5], axis=0)
    played = np.bincount(counts.pairs.ravel(), np.repeat(counts.counts, 2), n)
    coefficients = [StyleCoefficient(feature=STYLE_FEATURES[j], coefficient=float(beta[j]),
                                     lower=float(beta_lower[j]), upper=float(beta_upper[j]),
                                     elo_per_sd=float(beta[j] / LOGIT_PER_ELO)) for j in range(k)]
    return StyleControl(battles=counts.total, interval=interval,
                        ratings=rating_rows(counts.models, point, lower, upper, played), coefficients=coefficients)


__all__ = ["BOOTSTRAP", "LAPLACE", "STYLE_FEATURES", "StyleCoefficient", "StyleControl", "StyledCounts",
           "count_styled", "normalised_differences", "standardise", "style_controlled"]
