"""How far each rater's votes can be trusted: agreement with gold items, agreement with other
raters, time on task and straight-lining, combined into one quality score from 0 to 1.

Per rater, over all their votes (rows of ``store.report_queries.RaterVote``):

* **gold agreement**: mean credit of their votes on gold items against the expected verdict;
  credit is 1 for the same verdict, 0.5 for the other kind of tie ("tie" against "tie
  (bothbad)": both say neither answer is better) and 0 otherwise.
* **peer agreement**: on regular items other raters voted on too, the mean credit (as above) of
  each pairing of this rater's vote with another rater's vote on the same turn.
* **median time on task** (seconds from the panel being shown to the submit).
* **straight-lining**: the share of their votes whose whole answer (verdict and the four 1-5
  scores) is their most frequent one; 1.0 is the same answer on everything.

Each is turned into a component from 0 (careless) to 1 (careful), when there is enough to go on:

* gold and peer: chance-corrected, ``max(0, (agreement - 1/4) / (1 - 1/4))`` (1/4: one verdict of
  four by chance), each from MIN_ITEMS gold items or shared items up;
* variety: ``min(1, (1 - straight_lining) / 0.5)`` (full marks when the most frequent answer
  covers at most half of the votes), from MIN_VOTES votes up;
* pace: ``min(1, median time / CAREFUL_SECONDS)``, from MIN_ITEMS timed votes up.

The **quality score** is agreement times diligence:

* agreement: the weighted mean of the gold and peer components there are (WEIGHTS: gold 2, peer
  1: a known answer says more than another rater, who may be careless too);
* diligence: the product of the variety and pace components there are (each is a penalty: the
  same answer on everything, or no time to read, undoes any agreement);
* with no agreement component the score is the diligence alone; with no component at all the
  rater has no score (None) and is never left out or down-weighted for it.

Random voters agree with gold and with others only by chance (agreement near 0); straight-liners
have no variety (diligence 0); careful raters keep most of their agreement.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from playground.core.vocabulary import TIES
from playground.store.report_queries import RaterVote

CHANCE = 0.25  # agreement by chance: one verdict of four
MIN_ITEMS = 3  # gold items, shared items or timed votes before that component counts
MIN_VOTES = 5  # votes before straight-lining counts
CAREFUL_SECONDS = 10.0  # a median under this reads as not reading both answers
WEIGHTS = {"gold": 2.0, "peer": 1.0}  # of the agreement components
RaterWeighting = Literal["exclude", "downweight"]
RATER_WEIGHTINGS: tuple[RaterWeighting, ...] = ("exclude", "downweight")
MIN_WEIGHT = 0.05  # a down-weighted vote still counts a little (a weight must be positive)


class RaterQuality(BaseModel):
    """One rater's line of the rater-quality table (None: not enough to say)."""

    model_config = ConfigDict(frozen=True)

    rater: str
    votes: int
    gold_items: int
    gold_agreement: float | None
    shared_items: int
    peer_agreement: float | None
    timed_votes: int
    median_time_s: float | None
    straight_lining: float | None  # share of the most frequent answer
    score: float | None


def credit(vote: str, expected: str) -> float:
    """1 for the same verdict, 0.5 for the other kind of tie, else 0."""
    if vote == expected:
        return 1.0
    return 0.5 if vote in TIES and expected in TIES else 0.0


def _corrected(agreement: float) -> float:
    return max(0.0, (agreement - CHANCE) / (1.0 - CHANCE))


def quality_score(components: dict[str, float | None]) -> float | None:
    """Agreement (weighted mean of "gold" and "peer") times diligence (product of "variety" and
    "pace"), each over the components that are not None; None if all are None."""
    agreement = {name: components.get(name) for name in WEIGHTS}
    agreeing = {name: value for name, value in agreement.items() if value is not None}
    diligence = [value for name in ("variety", "pace") if (value := components.get(name)) is not None]
    if not agreeing and not diligence:
        return None
    score = 1.0
    if agreeing:
        score = sum(WEIGHTS[name] * value for name, value in agreeing.items()) / sum(WEIGHTS[n] for n in agreeing)
    for value in diligence:
        score *= value
    return score


def rater_quality(votes: Sequence[RaterVote]) -> list[RaterQuality]:
    """The quality of every rater with votes, by name."""
    by_rater: dict[str, list[RaterVote]] = defaultdict(list)
    by_turn: dict[int, list[RaterVote]] = defaultdict(list)
    for vote in votes:
        by_rater[vote.rater].append(vote)
        if vote.gold_verdict is None:
            by_turn[vote.turn_id].append(vote)
    rows = []
    for rater, mine in sorted(by_rater.items()):
        gold = [credit(v.winner, v.gold_verdict) for v in mine if v.gold_verdict is not None]
        peers: list[float] = []
        shared = 0
        for vote in mine:
            others = [o for o in by_turn.get(vote.turn_id, []) if o.rater != rater] if vote.gold_verdict is None else []
            shared += bool(others)
            peers += [credit(vote.winner, other.winner) for other in others]
        times = [v.time_on_task_s for v in mine if v.time_on_task_s is not None]
        answers = Counter((v.winner, v.accuracy_a, v.fluency_a, v.accuracy_b, v.fluency_b) for v in mine)
        straight = answers.most_common(1)[0][1] / len(mine)
        gold_agreement = statistics.fmean(gold) if gold else None
        peer_agreement = statistics.fmean(peers) if peers else None
        median_time = statistics.median(times) if times else None
        components = {
            "gold": _corrected(gold_agreement) if gold_agreement is not None and len(gold) >= MIN_ITEMS else None,
            "peer": _corrected(peer_agreement) if peer_agreement is not None and shared >= MIN_ITEMS else None,
            "variety": min(1.0, (1.0 - straight) / 0.5) if len(mine) >= MIN_VOTES else None,
            "pace": min(1.0, median_time / CAREFUL_SECONDS)
            if median_time is not None and len(times) >= MIN_ITEMS else None,
        }
        rows.append(RaterQuality(
            rater=rater, votes=len(mine), gold_items=len(gold), gold_agreement=gold_agreement, shared_items=shared,
            peer_agreement=peer_agreement, timed_votes=len(times), median_time_s=median_time,
            straight_lining=straight, score=quality_score(components),
        ))
    return rows


def below(qualities: Sequence[RaterQuality], threshold: float) -> dict[str, float]:
    """Raters whose score is under ``threshold`` (raters without a score are not), with their score."""
    return {q.rater: q.score for q in qualities if q.score is not None and q.score < threshold}


def vote_weight(score: float, threshold: float) -> float:
    """A down-weighted rater's vote: score / threshold (under 1 below it), at least MIN_WEIGHT."""
    return max(MIN_WEIGHT, min(1.0, score / threshold))
