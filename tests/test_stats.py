"""The leaderboard's statistics on synthetic battles whose true strengths are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from playground.stats.bradley_terry import SCALE, bradley_terry, count_battles, online_elo
from playground.stats.report import NO_CATEGORY, summarize
from playground.stats.summaries import (
    agreement,
    agreement_by_rater_pair,
    latency,
    mean_with_interval,
    position_bias,
    wilson,
    win_rates,
)
from playground.stats.synthetic import simulate_battles, true_ratings
from playground.store.report_filters import Filters
from playground.store.report_queries import Battle, ReportData, ScoreRow


def test_the_true_ranking_is_recovered() -> None:
    truth = true_ratings(6, spread=80)
    battles = simulate_battles(truth, 6000, np.random.default_rng(7))
    ratings = bradley_terry(count_battles(battles), rounds=100, seed=1)
    assert [r.model for r in ratings] == sorted(truth, key=lambda m: -truth[m])
    assert [r.rank for r in ratings] == [1, 2, 3, 4, 5, 6]  # 80 points apart: intervals are disjoint
    for r in ratings:
        assert abs(r.rating - truth[r.model]) < 25
        assert r.lower < r.rating < r.upper
    assert sum(r.battles for r in ratings) == 2 * 6000
    # Centred like the truth: the mean rating is 1000.
    assert np.mean([r.rating for r in ratings]) == pytest.approx(1000, abs=1e-6)


def test_close_models_share_a_rank() -> None:
    truth = {"x": 1000.0, "y": 1001.0, "z": 1300.0}
    ratings = bradley_terry(count_battles(simulate_battles(truth, 600, np.random.default_rng(3))), seed=2)
    ranks = {r.model: r.rank for r in ratings}
    assert ranks["z"] == 1 and ranks["x"] == ranks["y"] == 2


def test_95_percent_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    truth = true_ratings(5, spread=60)
    rng = np.random.default_rng(2026)
    covered = total = 0
    for simulation in range(80):
        battles = simulate_battles(truth, 1500, rng)
        for r in bradley_terry(count_battles(battles), rounds=100, seed=simulation):
            covered += r.lower <= truth[r.model] <= r.upper
            total += 1
    # 400 intervals: the standard error of the observed coverage is about 1.1 points.
    assert 0.91 <= covered / total <= 0.985, covered / total


def _design(battles: list[tuple[str, str, str]], models: list[str]) -> np.ndarray:
    """+1 for the left model, -1 for the right, the first model left out as the reference."""
    x = np.zeros((len(battles), len(models)))
    index = {m: i for i, m in enumerate(models)}
    for row, (a, b, _) in enumerate(battles):
        x[row, index[a]] += 1
        x[row, index[b]] -= 1
    return x[:, 1:]


def _relative(ratings: list, reference: str) -> dict[str, float]:
    by_model = {r.model: r.rating for r in ratings}
    return {m: v - by_model[reference] for m, v in by_model.items()}


def test_bradley_terry_agrees_with_a_logistic_regression() -> None:
    truth = true_ratings(5, spread=70)
    battles = simulate_battles(truth, 4000, np.random.default_rng(11))
    models = sorted(truth)
    y = np.array([1.0 if w == "model_a" else 0.0 for _, _, w in battles])
    fit = sm.Logit(y, _design(battles, models)).fit(disp=0)
    logistic = dict(zip(models[1:], SCALE * fit.params / math.log(10), strict=True))
    ours = _relative(bradley_terry(count_battles(battles), rounds=100), models[0])
    for model, value in logistic.items():
        assert ours[model] == pytest.approx(value, abs=0.5)


def test_ties_count_half_a_win_as_in_a_binomial_fit_on_half_outcomes() -> None:
    truth = true_ratings(4, spread=90)
    battles = simulate_battles(truth, 3000, np.random.default_rng(5), tie_rate=0.2)
    assert any(w == "tie" for _, _, w in battles)
    models = sorted(truth)
    y = np.array([1.0 if w == "model_a" else 0.0 if w == "model_b" else 0.5 for _, _, w in battles])
    fit = sm.GLM(y, _design(battles, models), family=sm.families.Binomial()).fit()
    glm = dict(zip(models[1:], SCALE * fit.params / math.log(10), strict=True))
    ours = _relative(bradley_terry(count_battles(battles), rounds=100), models[0])
    for model, value in glm.items():
        assert ours[model] == pytest.approx(value, abs=0.5)


def test_online_elo_follows_the_definition() -> None:
    elo = online_elo([("p", "q", "model_a")])
    assert elo == {"p": 1002.0, "q": 998.0}  # k=4, expected score 0.5
    elo = online_elo([("p", "q", "model_a"), ("p", "q", "tie (bothbad)")])
    expected_p = 1 / (1 + 10 ** ((998 - 1002) / 400))
    assert elo["p"] == pytest.approx(1002 + 4 * (0.5 - expected_p))
    assert elo["p"] + elo["q"] == pytest.approx(2000)


def test_wilson_interval_and_win_rates() -> None:
    interval = wilson(7, 10)
    # Wilson score interval for 7/10 at 95%, computed by hand from its formula.
    z = 1.959963984540054
    centre = (0.7 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.7 * 0.3 / 10 + z * z / 400)
    assert (interval.lower, interval.upper) == pytest.approx((centre - half, centre + half))
    rates = win_rates([("x", "y", "model_a"), ("y", "x", "model_a"), ("x", "y", "tie"), ("x", "y", "model_b")])
    assert rates.pairwise["x"]["y"].wins == 1 and rates.pairwise["x"]["y"].n == 3
    assert rates.pairwise["y"]["x"].rate == pytest.approx(2 / 3)
    assert rates.battle_counts["x"]["y"] == 4  # the tie is a battle, not a decisive one


def test_position_bias_is_a_binomial_test_among_decisive_votes() -> None:
    left_heavy = [("x", "y", "model_a")] * 70 + [("x", "y", "model_b")] * 30 + [("x", "y", "tie")] * 50
    bias = position_bias(left_heavy)
    assert (bias.left_wins, bias.decisive) == (70, 100)
    assert bias.p_value is not None and bias.p_value < 0.001
    even = position_bias([("x", "y", "model_a")] * 50 + [("x", "y", "model_b")] * 50)
    assert even.p_value == pytest.approx(1.0)


def test_agreement_between_raters() -> None:
    same = [(f"item{i}", rater, 1 + i % 5) for i in range(10) for rater in ("r1", "r2")]
    result = agreement(same)
    assert result.alpha == pytest.approx(1.0) and result.kappa == pytest.approx(1.0)
    # Opposite ends of the scale: worse than chance.
    opposite = [(f"item{i}", "r1", 1 + i % 5) for i in range(10)] + [(f"item{i}", "r2", 5 - i % 5) for i in range(10)]
    result = agreement(opposite)
    assert result.alpha is not None and result.alpha < 0
    assert result.kappa is not None and result.kappa < 0
    # One score given throughout: agreement is undefined, said as None, not a crash or NaN.
    flat = [(f"item{i}", rater, 3) for i in range(5) for rater in ("r1", "r2")]
    assert agreement(flat).alpha is None and agreement(flat).kappa is None
    # Items one rater scored alone do not count.
    assert agreement([("only", "r1", 4), ("only2", "r2", 5)]).items == 0
    pairs = agreement_by_rater_pair(same + [(f"item{i}", "r3", 1 + i % 5) for i in range(3)])
    assert [(p.rater_1, p.rater_2, p.items) for p in pairs] == [("r1", "r2", 10), ("r1", "r3", 3), ("r2", "r3", 3)]


def test_means_intervals_and_latency_percentiles() -> None:
    cell = mean_with_interval([1, 2, 3, 4, 5] * 20)
    assert cell.mean == 3 and cell.lower is not None and cell.upper is not None
    assert cell.lower < 3 < cell.upper and cell.n == 100
    assert mean_with_interval([]).mean is None
    assert mean_with_interval([4]).lower == 4
    figures = latency([("m", 0.1 * i, 0.01, 50.0) for i in range(1, 101)] + [("m", None, None, None)])
    ttft = figures["m"].ttft_s
    assert ttft is not None and ttft.n == 100
    assert ttft.p50 == pytest.approx(np.percentile([0.1 * i for i in range(1, 101)], 50))
    assert ttft.p99 == pytest.approx(np.percentile([0.1 * i for i in range(1, 101)], 99))


def _data(battles: list[tuple[str, str, str]], scores: list[tuple[str, str, int, int, int, str | None]] | None = None
          ) -> ReportData:
    return ReportData(Filters(), [Battle._make(b) for b in battles], [ScoreRow._make(s) for s in scores or []], [])


def test_report_on_nothing_one_model_and_all_ties_says_so() -> None:
    empty = summarize(_data([]))
    assert empty.votes == 0 and empty.bradley_terry == [] and "nothing to rank" in empty.notes[0]
    one = summarize(_data([("solo", "solo", "tie")]))
    assert any("Only one model" in n for n in one.notes)
    ties = summarize(_data([("x", "y", "tie")] * 3 + [("y", "x", "tie (bothbad)")]))
    assert any("Every vote is a tie" in n for n in ties.notes)
    assert any("4 votes: intervals are wide" in n for n in ties.notes)
    assert {r.model: round(r.rating) for r in ties.bradley_terry} == {"x": 1000, "y": 1000}


def test_scores_are_grouped_by_model_and_category() -> None:
    scores = [("x", "r1", 1, 5, 4, "math"), ("x", "r1", 2, 3, 2, "math"), ("y", "r1", 3, 1, 1, None)]
    report = summarize(_data([("x", "y", "model_a")], scores))
    assert report.scores["x"].accuracy.mean == 4 and report.scores["y"].fluency.mean == 1
    assert set(report.scores_by_category) == {"math", NO_CATEGORY}
    assert report.scores_by_category["math"]["x"].fluency.mean == 3
    assert report.agreement_by_rater_pair is None  # only for admins
    assert summarize(_data([], scores), per_rater=True).agreement_by_rater_pair == []  # one rater: no pair


def test_a_model_that_never_lost_a_few_votes_does_not_outrank_a_proven_one() -> None:
    battles = simulate_battles({"strong": 1200.0, "weak": 1000.0}, 400, np.random.default_rng(9))
    battles += [("newcomer", "weak", "model_a"), ("weak", "newcomer", "model_b")]
    ratings = {r.model: r for r in bradley_terry(count_battles(battles), rounds=100)}
    assert ratings["strong"].rank == 1
    # Finite (maximum likelihood alone would make it infinite), above the model it beat, and
    # far less certain than a model with 400 votes.
    assert ratings["weak"].rating < ratings["newcomer"].rating < 1400
    newcomer, strong = ratings["newcomer"], ratings["strong"]
    assert newcomer.upper - newcomer.lower > 1.5 * (strong.upper - strong.lower)


def test_a_word_that_is_not_a_vote_is_refused_rather_than_counted_as_a_tie() -> None:
    with pytest.raises(ValueError, match="not a vote: 'draw'"):
        count_battles([("x", "y", "model_a"), ("x", "y", "draw")])
    with pytest.raises(ValueError, match="not a vote"):
        online_elo([("x", "y", "Tie")])
