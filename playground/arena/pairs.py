"""The pair of models a conversation (or a batch item) gets: drawn from the probabilities of the
arena's pair policy, stored with the conversation (``pair_policy``, ``pair_probability``) so that
the leaderboard can weight each battle by the inverse of its pair's probability.

The probabilities themselves are computed above this stage (playground.stats.pair_sampling, from
the stored votes); here they are only drawn from. Sides are drawn afterwards, as for a fixed pair.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from playground.core.config import PlaygroundConfig
from playground.core.vocabulary import PairPolicy

Pair = tuple[str, str]  # unordered: names in sorted order


@dataclass(frozen=True, slots=True)
class PairDraw:
    """A drawn pair (in sorted order; sides are drawn later), how, and with what probability."""

    models: Pair
    policy: PairPolicy
    probability: float


@dataclass(frozen=True)
class PairDistribution:
    """The probability of each unordered pair under one policy; ``draw`` picks one."""

    policy: PairPolicy
    probabilities: Mapping[Pair, float]

    def __post_init__(self) -> None:
        if not self.probabilities:
            raise ValueError("no pairs to draw from")
        total = sum(self.probabilities.values())
        if abs(total - 1.0) > 1e-6 or min(self.probabilities.values()) <= 0:
            raise ValueError(f"pair probabilities must be positive and sum to 1 (sum {total})")
        for a, b in self.probabilities:
            if not a < b:
                raise ValueError(f"a pair's names must be two different names in sorted order: {(a, b)}")

    @classmethod
    def fixed(cls, a: str, b: str) -> PairDistribution:
        return cls("fixed", {(min(a, b), max(a, b)): 1.0})

    @classmethod
    def uniform(cls, models: Sequence[str]) -> PairDistribution:
        pairs = list(combinations(sorted(dict.fromkeys(models)), 2))
        return cls("uniform", {pair: 1.0 / len(pairs) for pair in pairs})

    def draw(self, rng: random.Random) -> PairDraw:
        pairs = list(self.probabilities)
        chosen = rng.choices(pairs, weights=[self.probabilities[p] for p in pairs])[0]
        return PairDraw(chosen, self.policy, 1.0 if self.policy == "fixed" else self.probabilities[chosen])


def fixed_or_uniform(config: PlaygroundConfig) -> PairDistribution:
    """Without stored votes to go by: the config's fixed pair, or uniform over its models."""
    arena = config.arena
    if arena.pair_policy() == "fixed":
        return PairDistribution.fixed(arena.model_a, arena.model_b)
    return PairDistribution.uniform(arena.model_names())
