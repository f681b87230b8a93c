"""Rater quality on a synthetic crowd with planted careless raters, and the report's
--min-rater-quality option on real SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest

from playground.core.vocabulary import WINNERS
from playground.stats.rater_quality import credit, rater_quality
from playground.stats.report import RaterPolicy, build_report
from playground.store.database import Database
from playground.store.queue import next_for_rater, queued_turn
from playground.store.raters import add_rater
from playground.store.ratings import submit_rating
from playground.store.report_filters import Filters
from playground.store.report_queries import RaterVote

from .store_helpers import submission
from .test_cli_store import playground
from .test_gold import gold_turns
from .test_queue import batch_of


def synthetic_crowd(seed: int = 0) -> list[RaterVote]:
    """60 regular items and 12 gold items, each voted on by every rater: 8 careful raters (the
    truth 85% of the time, scores that follow it, 15-90 s), 3 random voters (any verdict, any
    scores, 6-20 s) and 3 straight-liners (always A, always 5/5 and 4/4, 2-4 s)."""
    rng = random.Random(seed)
    truth = {turn: rng.choice(["model_a", "model_a", "model_b", "model_b", "tie", "tie (bothbad)"])
             for turn in range(72)}
    gold = {turn: truth[turn] for turn in range(60, 72)}
    votes = []
    for kind, count in (("careful", 8), ("random", 3), ("straight", 3)):
        for r in range(count):
            for turn, right in truth.items():
                if kind == "careful":
                    winner = right if rng.random() < 0.85 else rng.choice(WINNERS)
                    good, bad = (rng.randint(4, 5), rng.randint(4, 5)), (rng.randint(1, 3), rng.randint(2, 4))
                    a, b = (good, bad) if winner == "model_a" else (bad, good) if winner == "model_b" else (good, good)
                    seconds = rng.uniform(15, 90)
                elif kind == "random":
                    winner = rng.choice(WINNERS)
                    a, b = (rng.randint(1, 5), rng.randint(1, 5)), (rng.randint(1, 5), rng.randint(1, 5))
                    seconds = rng.uniform(6, 20)
                else:
                    winner, a, b, seconds = "model_a", (5, 5), (4, 4), rng.uniform(2, 4)
                votes.append(RaterVote(f"{kind}-{r}", turn, winner, gold.get(turn), seconds, *a, *b))  # type: ignore[arg-type]
    rng.shuffle(votes)
    return votes


def test_credit_counts_the_other_tie_as_half() -> None:
    assert credit("model_a", "model_a") == 1 and credit("tie", "tie (bothbad)") == 0.5
    assert credit("model_a", "tie") == 0 and credit("model_b", "model_a") == 0


def test_careless_raters_score_low_and_careful_ones_high() -> None:
    quality = {q.rater: q for q in rater_quality(synthetic_crowd())}
    careful = [q.score for name, q in quality.items() if name.startswith("careful")]
    careless = [q.score for name, q in quality.items() if not name.startswith("careful")]
    assert all(s is not None for s in careful + careless)
    print(f"careful {min(careful):.2f}-{max(careful):.2f}, random/straight-lining "  # type: ignore[type-var]
          f"{min(careless):.2f}-{max(careless):.2f}")  # type: ignore[type-var]
    assert min(careful) > 0.5 and max(careless) < 0.3  # type: ignore[type-var, operator]
    assert all(quality[f"straight-{r}"].straight_lining == 1.0 for r in range(3))
    assert all(q.gold_items == 12 and q.shared_items == 60 for q in quality.values())
    assert quality["careful-0"].median_time_s > 15 > quality["random-0"].median_time_s  # type: ignore[operator]


def test_too_little_to_judge_gives_no_score() -> None:
    [q] = rater_quality([RaterVote("new", 1, "model_a", None, None, 4, 4, 2, 2)])
    assert q.score is None and q.gold_agreement is None and q.peer_agreement is None


async def crowd_in_the_store(db: Database) -> None:
    """4 gold items (A is better) and 6 regular items; two careful raters and a straight-liner who
    always says B with the same scores, all through the queue (gold first: rate 1)."""
    golds = set(await gold_turns(db, 4))  # answer a is the better one, stored sides alternate
    await batch_of(db, 6)
    for name in ("ana", "ben", "sam"):
        rater = await add_rater(db, name, f"pw-{name}-123")
        rng, i = random.Random(1), 0
        while (turn_id := await next_for_rater(db, rater.id, "quick-20", overlap=3, gold_rate=1.0,  # type: ignore[arg-type]
                                               rng=rng)) is not None:
            i += 1
            if name == "sam":
                payload = {**submission(turn_id, "model_b", a=(3, 3), b=(3, 3)), "time_on_task_s": 2.0}
            else:
                turn, _ = await queued_turn(db, turn_id)
                winner = turn.gold_verdict if turn_id in golds else "model_a"
                payload = {**submission(turn_id, winner, a=(1 + i % 5, 5), b=(1 + (i + 2) % 5, 2)),
                           "time_on_task_s": 30.0 + i}
            await submit_rating(db, rater.id, payload)  # type: ignore[arg-type]


async def test_the_report_excludes_or_downweights_raters_under_the_threshold(db: Database) -> None:
    await crowd_in_the_store(db)
    plain = await build_report(db, Filters(), per_rater=True)
    scores = {q.rater: q.score for q in plain.rater_quality}
    # ana and ben agree with gold and each other, not with sam: 0.8 each; sam about 0.16.
    assert scores["ana"] > 0.7 and scores["ben"] > 0.7 and scores["sam"] < 0.2  # type: ignore[operator]
    assert plain.votes == 18 and plain.rater_policy is None
    excluded = await build_report(db, Filters(), per_rater=True, rater_policy=RaterPolicy(min_quality=0.5))
    assert excluded.votes == 12 and excluded.ratings == 24
    assert excluded.filters.exclude_raters == ("sam",) and "raters left out: sam" in excluded.filters_text
    assert any("under 0.50" in note and "sam" in note for note in excluded.notes)
    assert {q.rater for q in excluded.rater_quality} == {"ana", "ben", "sam"}  # still shown
    weighted = await build_report(db, Filters(), per_rater=True,
                                  rater_policy=RaterPolicy(min_quality=0.5, weighting="downweight"))
    assert weighted.votes == 18 and weighted.rater_policy is not None
    assert set(weighted.rater_policy.affected) == {"sam"}
    gap = {r.model: r.rating for r in weighted.bradley_terry}
    raw = {r.model: r.rating for r in plain.bradley_terry}
    # sam's B votes count less: "left" (side a) gains on "right".
    assert gap["left"] - gap["right"] > raw["left"] - raw["right"]


@pytest.mark.parametrize("weighting", ["exclude", "downweight"])
def test_report_option_on_the_command_line(tmp_path, weighting: str) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from playground.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'crowd.db'}"

    async def fill() -> None:
        db = Database(url)
        try:
            await upgrade(db)
            await crowd_in_the_store(db)
        finally:
            await db.dispose()

    asyncio.run(fill())
    done = playground("report", "--min-rater-quality", "0.5", "--rater-weighting", weighting, db_url=url)
    assert done.returncode == 0, done.stderr
    text = done.stdout.replace("\n", " ")
    assert "Rater quality" in text and "sam" in text and "under 0.50" in text
    bad = playground("report", "--min-rater-quality", "0.5", "--rater-weighting", "ignore", db_url=url)
    assert bad.returncode == 2 and "--rater-weighting" in bad.stderr
