"""Per-model scores, win rates, position bias, agreement and latency (definitions: DESIGN.md).

* scores: mean with a bootstrap 95% interval (scipy.stats.bootstrap, percentile method);
* win rate: wins / decisive battles (ties left out) with a Wilson interval (statsmodels);
* position bias: a binomial test (scipy) of "the left side wins" against 0.5 among non-ties;
* agreement on 1-5 scores: Krippendorff's alpha at the ordinal level (krippendorff) over items
  scored by at least two raters; for exactly two raters also weighted Cohen's kappa (statsmodels,
  linear weights);
* latency: p50 / p90 / p99 of TTFT, TPOT and tokens/s per model (numpy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest, bootstrap
from statsmodels.stats.proportion import proportion_confint

PERCENTILES = (50, 90, 99)


def mean_with_interval(values: Sequence[float], seed: int = 0) -> dict[str, Any]:
    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return {"mean": None, "lower": None, "upper": None, "n": 0}
    if len(data) == 1 or np.all(data == data[0]):
        value = float(data.mean())
        return {"mean": value, "lower": value, "upper": value, "n": len(data)}
    ci = bootstrap((data,), np.mean, confidence_level=0.95, n_resamples=2000, method="percentile",
                   random_state=np.random.default_rng(seed)).confidence_interval
    return {"mean": float(data.mean()), "lower": float(ci.low), "upper": float(ci.high), "n": len(data)}


def wilson(wins: int, trials: int) -> dict[str, Any]:
    if trials == 0:
        return {"rate": None, "lower": None, "upper": None, "wins": 0, "n": 0}
    low, high = proportion_confint(wins, trials, alpha=0.05, method="wilson")
    return {"rate": wins / trials, "lower": float(low), "upper": float(high), "wins": wins, "n": trials}


def win_rates(battles: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """Per model (against everyone) and per pair (row beats column), ties left out."""
    wins: dict[tuple[str, str], int] = defaultdict(int)
    ties: dict[tuple[str, str], int] = defaultdict(int)
    models: set[str] = set()
    for a, b, winner in battles:
        models |= {a, b}
        if winner == "model_a":
            wins[(a, b)] += 1
        elif winner == "model_b":
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
    counts = {m: {o: wins[(m, o)] + wins[(o, m)] + ties[(min(m, o), max(m, o))] for o in ordered if o != m} for m in ordered}
    return {"overall": overall, "pairwise": pairwise, "battle_counts": counts}


def position_bias(battles: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """Does the left side (model_a) win more than half the decisive votes?"""
    left = right = 0
    for _, _, winner in battles:
        left += winner == "model_a"
        right += winner == "model_b"
    n = left + right
    if n == 0:
        return {"left_wins": 0, "decisive": 0, "left_rate": None, "p_value": None}
    test = binomtest(left, n, 0.5)
    return {"left_wins": left, "decisive": n, "left_rate": left / n, "p_value": float(test.pvalue)}


def agreement(scores: Iterable[tuple[str, str, int]]) -> dict[str, Any]:
    """(item, rater, score 1-5) rows -> ordinal alpha over items scored by 2+ raters, and the
    weighted kappa when exactly two raters share items."""
    import krippendorff

    by_item: dict[str, dict[str, int]] = defaultdict(dict)
    for item, rater, score in scores:
        by_item[item][rater] = score
    shared = {item: r for item, r in by_item.items() if len(r) >= 2}
    raters = sorted({rater for r in shared.values() for rater in r})
    result: dict[str, Any] = {"items": len(shared), "raters": len(raters), "alpha": None, "kappa": None}
    if len(shared) < 2 or len(raters) < 2:
        return result
    matrix = np.full((len(raters), len(shared)), np.nan)
    for column, given in enumerate(shared.values()):
        for rater, score in given.items():
            matrix[raters.index(rater), column] = score
    values = matrix[~np.isnan(matrix)]
    if len(np.unique(values)) > 1:
        result["alpha"] = float(
            krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5])
        )
    if len(raters) == 2:
        result["kappa"] = _weighted_kappa([(given[raters[0]], given[raters[1]]) for given in shared.values()])
    return result


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


def agreement_by_rater_pair(scores: Iterable[tuple[str, str, int]]) -> list[dict[str, Any]]:
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
                pairs.append({"rater_1": first, "rater_2": second, "items": len(shared),
                              "kappa": _weighted_kappa(shared)})
    return pairs


def latency(rows: Iterable[tuple[str, float | None, float | None, float | None]]) -> dict[str, Any]:
    """(model, ttft_s, tpot_s, tokens_per_s) -> percentiles per model and metric."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for model, ttft, tpot, tps in rows:
        for name, value in (("ttft_s", ttft), ("tpot_s", tpot), ("tokens_per_s", tps)):
            if value is not None:
                values[model][name].append(value)
    return {
        model: {
            name: {f"p{p}": float(np.percentile(v, p)) for p in PERCENTILES} | {"n": len(v)}
            for name, v in metrics.items()
        }
        for model, metrics in sorted(values.items())
    }


def judge_agreement(pairs: Iterable[tuple[str, str, str]]) -> dict[str, Any]:
    """(judge model, judge's winner, human's winner) -> per judge: how often it agrees with the
    humans (both tie kinds are one "tie") and Cohen's kappa, which discounts chance agreement."""
    from statsmodels.stats.inter_rater import cohens_kappa

    labels = {"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 2}
    tables: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((3, 3)))
    for judge, by_judge, by_human in pairs:
        tables[judge][labels[by_judge], labels[by_human]] += 1
    result = {}
    for judge, table in sorted(tables.items()):
        n = int(table.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = float(cohens_kappa(table).kappa)
        result[judge] = {"votes": n, "agreement": float(np.trace(table) / n),
                         "kappa": None if np.isnan(kappa) or np.isinf(kappa) else kappa}
    return result
