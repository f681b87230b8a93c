"""How many votes adaptive pair sampling saves: ``adaptive_votes_saved_ratio`` of ``playground
bench stats`` (votes uniform sampling needs / votes adaptive sampling needs until every model's
95% interval is at most ``target_width`` Elo wide).

Synthetic raters vote by the Bradley-Terry model (10% ties) on models rated ``spread`` Elo apart
(in a random order). Votes come in rounds of ``every``; before each round the pair probabilities
are computed from the votes so far (playground.stats.pair_sampling, as the app does for each new
conversation) and the round's pairs drawn from them. The interval width is the normal
approximation of the fit the adaptive policy itself uses (LaplaceFit.interval_widths), the same
yardstick for both policies. Two scenarios, each the mean over ``runs`` seeds:

* ``joining`` (the headline): ``new`` models join an arena whose other models already have
  ``prior_votes`` votes between them; the votes counted are those cast after they joined;
* ``fresh``: every model starts with no votes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from playground.stats.bradley_terry import BASE, SCALE
from playground.stats.pair_sampling import LaplaceFit, all_pairs, pair_probabilities

WINNERS = ("model_a", "tie", "model_b")


@dataclass(frozen=True)
class PairScenario:
    models: int = 8
    spread: float = 50.0  # Elo between neighbours
    target_width: float = 100.0  # every model's 95% interval at most this wide (Elo)
    new: int = 0  # models that join with no votes
    prior_votes: int = 0  # votes among the others before they join
    every: int = 20  # votes per round between recomputations
    tie_rate: float = 0.1
    max_votes: int = 100_000


def votes_needed(policy: str, scenario: PairScenario, seed: int) -> int:
    """Votes cast under ``policy`` until every interval is at most the target width."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i:02d}" for i in range(scenario.models)]
    strength = dict(zip(names, rng.permutation(np.arange(scenario.models) * scenario.spread), strict=True))
    pairs = all_pairs(names)
    counts: dict[tuple[str, str, str], int] = {}

    def vote(chosen: list[tuple[str, str]]) -> None:
        for a, b in chosen:
            p_a = expit((strength[a] - strength[b]) * np.log(BASE) / SCALE)
            if rng.random() < scenario.tie_rate:
                winner = "tie"
            else:
                winner = "model_a" if rng.random() < p_a else "model_b"
            counts[(a, b, winner)] = counts.get((a, b, winner), 0) + 1

    old = names[: scenario.models - scenario.new]
    old_pairs = [p for p in pairs if p[0] in old and p[1] in old]
    if scenario.prior_votes:
        vote([old_pairs[i] for i in rng.integers(0, len(old_pairs), scenario.prior_votes)])
    cast = 0
    while cast < scenario.max_votes:
        cells = [(a, b, w, n) for (a, b, w), n in counts.items()]
        if max(LaplaceFit(names, cells).interval_widths().values()) <= scenario.target_width:
            return cast
        probabilities = pair_probabilities(policy, names, cells)
        weights = np.array([probabilities[p] for p in pairs])
        vote([pairs[i] for i in rng.choice(len(pairs), scenario.every, p=weights / weights.sum())])
        cast += scenario.every
    return cast


def compare(scenario: PairScenario, runs: int = 4, seed: int = 0) -> dict[str, Any]:
    """Mean votes needed by each policy over ``runs`` seeds, and their ratio."""
    uniform = [votes_needed("uniform", scenario, seed + r) for r in range(runs)]
    adaptive = [votes_needed("adaptive", scenario, seed + r) for r in range(runs)]
    mean_uniform, mean_adaptive = float(np.mean(uniform)), float(np.mean(adaptive))
    return {"uniform_votes": round(mean_uniform), "adaptive_votes": round(mean_adaptive),
            "ratio": round(mean_uniform / mean_adaptive, 2)}


JOINING = PairScenario(models=8, new=2, prior_votes=1500)
FRESH = PairScenario(models=8)


def run_pairs_bench(runs: int = 4, seed: int = 0) -> dict[str, Any]:
    """The figures bench stats reports (a few seconds on two cores)."""
    joining, fresh = compare(JOINING, runs, seed), compare(FRESH, runs, seed)
    return {
        "adaptive_votes_saved_ratio": joining["ratio"],
        "adaptive_votes_saved_ratio_fresh": fresh["ratio"],
        "pair_sampling": {
            "target_width_elo": JOINING.target_width, "models": JOINING.models, "spread_elo": JOINING.spread,
            "runs": runs, "joining": {"new_models": JOINING.new, "prior_votes": JOINING.prior_votes, **joining},
            "fresh": fresh,
        },
    }
