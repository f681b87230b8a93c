"""Per-model scores, win rates, position bias, agreement and latency (definitions:
docs/definitions.md).

* scores: mean with a bootstrap 95% interval (scipy.stats.bootstrap, percentile method);
* win rate: wins / decisive battles (ties left out) with a Wilson interval (statsmodels);
* position bias: a binomial test (scipy) of "the left side wins" against 0.5 among non-ties;
* agreement on 1-5 scores: Krippendorff's alpha at the ordinal level (krippendorff) over items
  scored by at least two raters; for exactly two raters also weighted Cohen's kappa (statsmodels,
  linear weights);
* latency: p50 / p90 / p99 of TTFT, TPOT and tokens/s per model (numpy).

Every figure is a small frozen pydantic model: the report is read by attribute (a misspelt name
fails in mypy, not at a reader's screen) and dumps to the same JSON keys as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.stats import binomtest, bootstrap
from statsmodels.stats.proportion import proportion_confint

from playground.core.vocabulary import A_WINS, B_WINS, TIES, Winner

PERCENTILES = (50, 90, 99)
NO_CATEGORY = "(none)"  # turns typed by a rater rather than taken from a prompt set
# Typed as Winner: mypy rejects a misspelt label.


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True)


class MeanWithInterval(Summary):
    """A mean and its 95% bootstrap interval; all None when there is nothing to average."""

    mean: float | None
    lower: float | None
    upper: float | None
    n: int


class WilsonRate(Summary):
    """``wins`` of ``n`` trials with the Wilson 95% interval; rate and bounds None when n is 0."""

    rate: float | None
    lower: float | None
    upper: float | None
    wins: int
    n: int


class WinRates(Summary):
    overall: dict[str, WilsonRate]  # per model, against everyone, ties left out
    pairwise: dict[str, dict[str, WilsonRate]]  # row model beats column model
    battle_counts: dict[str, dict[str, int]]  # battles between the two, ties included


class PositionBias(Summary):
    left_wins: int
    decisive: int  # votes that were not a tie
    left_rate: float | None
    p_value: float | None  # two-sided binomial test against 0.5


class Agreement(Summary):
    items: int  # score items (answer x axis) rated by two raters or more
    raters: int
    alpha: float | None  # ordinal Krippendorff's alpha; None when not measurable
    kappa: float | None  # linear-weighted Cohen's kappa, only when exactly two raters share items


class RaterPairAgreement(Summary):
    rater_1: str
    rater_2: str
    items: int
    kappa: float | None


class LatencyPercentiles(Summary):
    p50: float
    p90: float
    p99: float
    n: int


class ModelLatency(Summary):
    """One model's latency percentiles; a metric no answer had is None."""

    ttft_s: LatencyPercentiles | None = None
    tpot_s: LatencyPercentiles | None = None
    tokens_per_s: LatencyPercentiles | None = None


class JudgeAgreement(Summary):
    votes: int
    agreement: float  # share of the votes where judge and human agree (both ties are one "tie")
    kappa: float | None  # Cohen's kappa over the three outcomes


def mean_with_interval(values: Sequence[float], seed: int = 0) -> MeanWithInterval:
    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return MeanWithInterval(mean=None, lower=None, upper=None, n=0)
    if len(data) == 1 or np.all(data == data[0]):
        value = float(data.mean())
        return MeanWithInterval(mean=value, lower=value, upper=value, n=len(data))
    ci = bootstrap((data,), np.mean, confidence_level=0.95, n_resamples=2000, method="percentile",
                   random_state=np.random.default_rng(seed)).confidence_interval
    return MeanWithInterval(mean=float(data.mean()), lower=float(ci.low), upper=float(ci.high), n=len(data))


def wilson(wins: int, trials: int) -> WilsonRate:
    if trials == 0:
        return WilsonRate(rate=None, lower=None, upper=None, wins=0, n=0)
    low, high = proportion_confint(wins, trials, alpha=0.05, method="wilson")
    return WilsonRate(rate=wins / trials, lower=float(low), upper=float(high), wins=wins, n=trials)


def win_rates(battles: Iterable[tuple[str, str, str]]) -> WinRates:
    """Per model (against everyone) and per pair (row beats column), ties left out."""
    wins: dict[tuple[str, str], int] = defaultdict(int)
    ties: dict[tuple[str, str], int] = defaultdict(int)
    models: set[str] = set()
    for a, b, winner in battles:
        models |= {a, b}
        if winner == A_WINS:
            wins[(a, b)] += 1
        elif winner == B_WINS:
            wins[(b, a)] += 1
        else:
            ties[(min(a, b), max(a, b))] += 1
    ordered = sorted(models)
    pairwise = {
        m: {o: wilson(wins[(m, o)], wins[(m, o)] + wins[(o, m)]) for o in ordered if o != m}
        for m in ordered
    }
    overall = {
        m: wilson(sum(wins[(m, o)] for o in ordered), sum(wins[(m, o)] + wins[(o, m)] for o in ordered))
        for m in ordered
    }
    counts = {m: {o: wins[(m, o)] + wins[(o, m)] + ties[(min(m, o), max(m, o))] for o in ordered if o != m}
              for m in ordered}
    return WinRates(overall=overall, pairwise=pairwise, battle_counts=counts)


def position_bias(battles: Iterable[tuple[str, str, str]]) -> PositionBias:
    """Does the left side (model_a) win more than half the decisive votes?"""
    left = right = 0
    for _, _, winner in battles:
        left += winner == A_WINS
        right += winner == B_WINS
    n = left + right
    if n == 0:
        return PositionBias(left_wins=0, decisive=0, left_rate=None, p_value=None)
    test = binomtest(left, n, 0.5)
    return PositionBias(left_wins=left, decisive=n, left_rate=left / n, p_value=float(test.pvalue))


def agreement(scores: Iterable[tuple[str, str, int]]) -> Agreement:
    """(item, rater, score 1-5) rows -> ordinal alpha over items scored by 2+ raters, and the
    weighted kappa when exactly two raters share items."""
    import krippendorff

    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for item, rater, score in scores:
        by_item[item][rater] = score
    shared = {item: r for item, r in by_item.items() if len(r) >= 2}
    raters = sorted({rater for r in shared.values() for rater in r})
    if len(shared) < 2 or len(raters) < 2:
        return Agreement(items=len(shared), raters=len(raters), alpha=None, kappa=None)
    matrix = np.full((len(raters), len(shared)), np.nan)
    for column, given in enumerate(shared.values()):
        for rater, score in given.items():
            matrix[raters.index(rater), column] = score
    values = matrix[~np.isnan(matrix)]
    alpha = None
    if len(np.unique(values)) > 1:
        alpha = float(
            krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5])
        )
    kappa = None
    if len(raters) == 2:
        kappa = _weighted_kappa([(given[raters[0]], given[raters[1]]) for given in shared.values()])
    return Agreement(items=len(shared), raters=len(raters), alpha=alpha, kappa=kappa)


def _weighted_kappa(pairs: Sequence[tuple[int, int]]) -> float | None:
    """Linear-weighted Cohen's kappa of two raters' 1-5 scores; None when it is undefined (one
    score used throughout, so chance agreement is already perfect)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.zeros((5, 5))
    for first, second in pairs:
        table[first - 1, second - 1] += 1
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = float(cohens_kappa(table, wt="linear").kappa)
    return None if np.isnan(kappa) or np.isinf(kappa) else kappa


def agreement_by_rater_pair(scores: Iterable[tuple[str, str, int]]) -> list[RaterPairAgreement]:
    """(item, rater, score) rows -> weighted kappa for every pair of raters sharing 2+ items (the
    admin's view: who agrees with whom)."""
    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for item, rater, score in scores:
        by_item[item][rater] = score
    raters = sorted({rater for given in by_item.values() for rater in given})
    pairs = []
    for i, first in enumerate(raters):
        for second in raters[i + 1:]:
            shared = [(g[first], g[second]) for g in by_item.values() if first in g and second in g]
            if len(shared) >= 2:
                pairs.append(RaterPairAgreement(rater_1=first, rater_2=second, items=len(shared),
                                                kappa=_weighted_kappa(shared)))
    return pairs


def _percentiles(values: list[float]) -> LatencyPercentiles:
    p50, p90, p99 = (float(v) for v in np.percentile(values, PERCENTILES))
    return LatencyPercentiles(p50=p50, p90=p90, p99=p99, n=len(values))


def latency(rows: Iterable[tuple[str, float | None, float | None, float | None]]) -> dict[str, ModelLatency]:
    """(model, ttft_s, tpot_s, tokens_per_s) -> percentiles per model and metric."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for model, ttft, tpot, tps in rows:
        for name, value in (("ttft_s", ttft), ("tpot_s", tpot), ("tokens_per_s", tps)):
            if value is not None:
                values[model][name].append(value)
    return {
        model: ModelLatency(**{name: _percentiles(v) for name, v in metrics.items()})
        for model, metrics in sorted(values.items())
    }


# Judge and human are compared on three outcomes: both tie kinds are one "tie".
_OUTCOME: dict[Winner, int] = {A_WINS: 0, B_WINS: 1} | {tie: 2 for tie in TIES}


def judge_agreement(pairs: Iterable[tuple[str, Winner, Winner]]) -> dict[str, JudgeAgreement]:
    """(judge model, judge's winner, human's winner) -> per judge: how often it agrees with the
    humans (both tie kinds are one "tie") and Cohen's kappa, which discounts chance agreement."""
    from statsmodels.stats.inter_rater import cohens_kappa

    tables: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((3, 3)))
    for judge, by_judge, by_human in pairs:
        tables[judge][_OUTCOME[by_judge], _OUTCOME[by_human]] += 1
    result = {}
    for judge, table in sorted(tables.items()):
        n = int(table.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = float(cohens_kappa(table).kappa)
        result[judge] = JudgeAgreement(votes=n, agreement=float(np.trace(table) / n),
                                       kappa=None if np.isnan(kappa) or np.isinf(kappa) else kappa)
    return result
