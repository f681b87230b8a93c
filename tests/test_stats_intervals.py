"""Small samples and weights: the leaderboard's intervals stay honest with 5-20 battles a model,
and every battle can carry a weight."""

from __future__ import annotations

import numpy as np
import pytest

from playground.stats.bradley_terry import BASE, INIT, SCALE, bradley_terry, count_battles
from playground.stats.synthetic import simulate_battles, true_ratings

TOURNAMENTS = 200
MODELS = 8
BATTLES = 40  # 10 a model on average: between 5 and 20 for nearly all of them


def small_sample_coverage(truth_sd: float, interval: str = "laplace", rounds: int = 100,
                          tournaments: int = TOURNAMENTS, seed: int = 2026) -> tuple[float, int]:
    """Share of 95% intervals that hold the true (centred) rating, over the models with 5-20
    battles, in ``tournaments`` tournaments whose true ratings are drawn N(1000, truth_sd^2)."""
    rng = np.random.default_rng(seed)
    covered = total = 0
    for t in range(tournaments):
        values = rng.normal(0.0, truth_sd, MODELS)
        truth = {f"m{i}": float(v) for i, v in enumerate(values - values.mean() + INIT)}
        battles = simulate_battles(truth, BATTLES, rng)
        for r in bradley_terry(count_battles(battles), rounds=rounds, seed=t, interval=interval):
            if 5 <= r.battles <= 20:
                covered += r.lower <= truth[r.model] <= r.upper
                total += 1
    return covered / total, total


@pytest.mark.parametrize("truth_sd", [50.0, 150.0, 300.0])
def test_intervals_cover_the_truth_for_models_with_5_to_20_battles(truth_sd: float) -> None:
    coverage, intervals = small_sample_coverage(truth_sd)
    print(f"laplace coverage, true ratings sd {truth_sd:.0f}: {coverage:.3f} of {intervals} intervals")
    assert intervals > 1200
    assert coverage >= 0.90, coverage


def test_an_all_win_record_gets_a_wide_interval_not_a_certain_first_place() -> None:
    truth = true_ratings(6, spread=60)
    battles = simulate_battles(truth, 3000, np.random.default_rng(1))
    battles += [("lucky", "model-02", "model_a")] * 4 + [("model-02", "lucky", "model_b")] * 4
    ratings = {r.model: r for r in bradley_terry(count_battles(battles))}
    lucky, best = ratings["lucky"], ratings["model-00"]
    assert lucky.battles == 8 and lucky.upper - lucky.lower > 8 * (best.upper - best.lower)
    assert lucky.lower < best.rating  # 8 wins over a middling model prove nothing against the best
    assert lucky.rank == best.rank == 1  # intervals overlap: they share the first rank
    # A newcomer does not blur the others: the established models keep narrow intervals and ranks.
    assert [ratings[f"model-0{i}"].rank for i in range(6)] == [1, 2, 4, 5, 6, 7]
    assert best.upper - best.lower < 60
    # The percentile bootstrap of the same record is the failure this replaces: every resample
    # is all wins, so the newcomer's interval is narrow and above everyone's.
    boot = {r.model: r for r in bradley_terry(count_battles(battles), interval="bootstrap")}
    assert boot["lucky"].upper - boot["lucky"].lower < (lucky.upper - lucky.lower) / 3
    assert boot["lucky"].rank == 1 and boot["model-00"].rank == 2


def test_a_weight_of_two_is_the_battle_counted_twice() -> None:
    rng = np.random.default_rng(3)
    battles = simulate_battles({"x": 1100.0, "y": 1000.0, "z": 950.0}, 300, rng)
    doubled = bradley_terry(count_battles(battles + battles))
    weighted = bradley_terry(count_battles(battles, weights=[2.0] * len(battles)))
    for d, w in zip(doubled, weighted, strict=True):
        assert d.model == w.model
        assert d.rating == pytest.approx(w.rating, abs=1e-6)
        assert (d.lower, d.upper) == pytest.approx((w.lower, w.upper), abs=1e-6)
    assert sum(r.battles for r in weighted) == 2 * len(battles)  # battles are counted, not weighed


def test_weights_move_the_ratings_towards_the_heavier_battles() -> None:
    battles = [("x", "y", "model_a")] * 10 + [("x", "y", "model_b")] * 10
    even = {r.model: r.rating for r in bradley_terry(count_battles(battles))}
    assert even["x"] == pytest.approx(even["y"])
    heavier_wins = {r.model: r.rating for r in bradley_terry(count_battles(battles, weights=[3.0] * 10 + [1.0] * 10))}
    # Three to one in weight: the fitted odds are about 3 (the prior pulls them in a little).
    odds = BASE ** ((heavier_wins["x"] - heavier_wins["y"]) / SCALE)
    assert 2.5 < odds < 3.0
    boot = bradley_terry(count_battles(battles, weights=[3.0] * 10 + [1.0] * 10), interval="bootstrap", seed=1)
    assert all(r.lower < r.rating < r.upper for r in boot)


def test_weights_must_match_the_battles_and_be_positive() -> None:
    battles = [("x", "y", "model_a"), ("y", "x", "tie")]
    with pytest.raises(ValueError, match="1 weights for 2 battles"):
        count_battles(battles, weights=[1.0])
    with pytest.raises(ValueError, match="positive and finite"):
        count_battles(battles, weights=[1.0, 0.0])
    with pytest.raises(ValueError, match="unknown interval method"):
        bradley_terry(count_battles(battles), interval="wald")
