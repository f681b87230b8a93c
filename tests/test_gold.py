"""Gold items (prompt-set schema, stored turns, mixed into the queue), time on task, and duplicate
votes, on real SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from playground.evalsets.prompt_sets import PromptSetError, parse_prompt_set
from playground.stats.report import build_report
from playground.store.database import Database
from playground.store.export_queries import votes_of
from playground.store.queue import GOLD_MODELS, batch_rater_id, next_for_rater, store_gold_turn
from playground.store.raters import add_rater
from playground.store.ratings import RatingRefused, submit_rating
from playground.store.records import ensure_conversation, save_turn
from playground.store.report_filters import Filters
from playground.store.tables import Turn, Vote

from .store_helpers import record, submission
from .test_cli_store import playground
from .test_queue import batch_of


def item(gold: object) -> dict[str, object]:
    return {"id": "g1", "category": "math", "difficulty": "easy", "language": "en", "prompt": "2 + 2?", "gold": gold}


def test_gold_pair_in_a_prompt_set_and_its_errors() -> None:
    good = parse_prompt_set({"name": "g", "items": [item({"answer_a": "4", "answer_b": "5", "verdict": "a"})]},
                            "g.yaml")
    assert good.items[0].gold is not None and good.items[0].gold.winner == "model_a"
    with pytest.raises(PromptSetError) as refused:
        parse_prompt_set({"name": "g", "items": [item({"answer_a": "4", "verdict": "best", "extra": 1})]}, "g.yaml")
    message = str(refused.value)
    assert "g.yaml: items[0] (g1).gold.answer_b: Field required" in message
    assert "g.yaml: items[0] (g1).gold.verdict:" in message and "'bothbad'" in message
    assert "g.yaml: items[0] (g1).gold.extra:" in message


async def gold_turns(db: Database, count: int, prompt_set: str = "quick-20") -> list[int]:
    owner = await batch_rater_id(db)
    turns = []
    for i in range(count):
        turn = await store_gold_turn(db, owner, prompt_set=prompt_set, item_id=f"gold{i}", category="math",
                                     prompt=f"gold question {i}", system_prompt="",
                                     answers={"a": f"right {i}", "b": f"wrong {i}"}, winner="model_a", swap=i % 2 == 1)
        assert turn is not None and turn.id is not None
        turns.append(turn.id)
    return turns


async def test_gold_turns_are_stored_once_with_swapped_verdicts(db: Database) -> None:
    owner = await batch_rater_id(db)
    first = await store_gold_turn(db, owner, prompt_set="s", item_id="x", category="c", prompt="p", system_prompt="",
                                  answers={"a": "good", "b": "bad"}, winner="model_a", swap=True)
    assert first is not None and first.gold_verdict == "model_b"  # the better answer went right
    again = await store_gold_turn(db, owner, prompt_set="s", item_id="x", category="c", prompt="p", system_prompt="",
                                  answers={"a": "good", "b": "bad"}, winner="model_a", swap=False)
    assert again is None  # the same pair, either way round
    changed = await store_gold_turn(db, owner, prompt_set="s", item_id="x", category="c", prompt="p",
                                    system_prompt="", answers={"a": "good", "b": "better"}, winner="model_b")
    assert changed is not None


async def test_the_queue_mixes_gold_in_at_the_configured_rate_never_twice(db: Database) -> None:
    regular = set(await batch_of(db, 160))
    golds = set(await gold_turns(db, 50))
    ana, ben = await add_rater(db, "ana", "pw-ana-1"), await add_rater(db, "ben", "pw-ben-1")
    rng = random.Random(7)
    shares = []
    for rater in (ana, ben):
        seen: list[int] = []
        gold_draws = draws_with_gold_left = 0
        while True:
            gold_left = len(golds - set(seen)) > 0
            turn_id = await next_for_rater(db, rater.id, "quick-20", overlap=2, gold_rate=0.2, rng=rng)  # type: ignore[arg-type]
            if turn_id is None:
                break
            assert turn_id not in seen  # nothing twice, gold included
            seen.append(turn_id)
            if gold_left:
                draws_with_gold_left += 1
                gold_draws += turn_id in golds
            await submit_rating(db, rater.id, submission(turn_id))  # type: ignore[arg-type]
        assert regular <= set(seen)  # every regular item, gold mixed in
        shares.append(gold_draws / draws_with_gold_left)
    # 0.2 per draw while gold items are left: within 3 standard deviations of ~200 draws.
    assert all(abs(share - 0.2) < 0.09 for share in shares), shares
    assert await next_for_rater(db, ana.id, "quick-20", overlap=2, gold_rate=1.0) is None  # type: ignore[arg-type]


async def test_gold_needs_regular_items_and_ignores_overlap(db: Database) -> None:
    golds = await gold_turns(db, 3)
    ana, ben = await add_rater(db, "ana", "pw-ana-1"), await add_rater(db, "ben", "pw-ben-1")
    assert await next_for_rater(db, ana.id, None, overlap=1, gold_rate=1.0) is None  # type: ignore[arg-type]
    [regular] = await batch_of(db, 1)
    for rater in (ana, ben):  # both get the same gold item although overlap is 1
        turn_id = await next_for_rater(db, rater.id, None, overlap=1, gold_rate=1.0, rng=random.Random(0))  # type: ignore[arg-type]
        assert turn_id in golds
        await submit_rating(db, rater.id, submission(turn_id))  # type: ignore[arg-type]
    assert await next_for_rater(db, ana.id, None, overlap=1, gold_rate=0.0) == regular  # type: ignore[arg-type]


async def rated_pair(db: Database, rater_id: int, prompt: str, models: tuple[str, str], winner: str = "model_a",
                     **extra: object) -> int:
    conversation = str(uuid.uuid4())
    await ensure_conversation(db, conversation, rater_id, blind=True, model_a=models[0], model_b=models[1])
    turn = await save_turn(db, conversation, prompt=prompt, system_prompt="", settings={},
                           records={"a": record("a", models[0]), "b": record("b", models[1])}, sampling={},
                           message_id=None)
    assert turn.id is not None
    await submit_rating(db, rater_id, {**submission(turn.id, winner), **extra})
    return turn.id


async def test_gold_turns_change_no_leaderboard_or_export(db: Database) -> None:
    ana = await add_rater(db, "ana", "pw-ana-1")
    assert ana.id is not None
    for i, winner in enumerate(["model_a", "model_a", "model_b", "tie"]):
        await rated_pair(db, ana.id, f"question {i}", ("alpha", "beta"), winner)
    await batch_of(db, 1)  # the queue hands out gold only while regular items are left
    before = await build_report(db, Filters(), per_rater=True)
    [gold] = await gold_turns(db, 1)
    assert await next_for_rater(db, ana.id, None, overlap=1, gold_rate=1.0) == gold
    stored = await submit_rating(db, ana.id, submission(gold, "model_b", a=(1, 1), b=(5, 5)))
    assert stored.gold  # the app keeps its answers unnamed after the vote
    after = await build_report(db, Filters(), per_rater=True)
    assert after.bradley_terry == before.bradley_terry and after.votes == before.votes == 4
    assert after.scores == before.scores and after.latency == before.latency and after.agreement == before.agreement
    assert not set(GOLD_MODELS.values()) & ({r.model for r in after.bradley_terry} | set(after.latency))
    exported = [row for part in [p async for p in votes_of(db, Filters(blind_only=False))] for row in part]
    assert len(exported) == 4
    assert [q.gold_items for q in after.rater_quality] == [1]  # the rater's quality does see it


async def test_time_on_task_is_stored_and_implausible_values_are_null(db: Database) -> None:
    ana = await add_rater(db, "ana", "pw-ana-1")
    assert ana.id is not None
    given: list[object] = [12.5, 3, 0, -4, 86_401, float("nan"), "12", True, None]
    turns = [await rated_pair(db, ana.id, f"q{i}", ("alpha", "beta"), time_on_task_s=value)
             for i, value in enumerate(given)]
    await submit_rating(db, ana.id, {**submission(turns[0], "tie"), "time_on_task_s": 99.0})  # a changed vote
    await submit_rating(db, ana.id, {**submission(turns[4], "tie"), "time_on_task_s": 40.0})
    async with db.sessions() as session:
        stored = {v.turn_id: v.time_on_task_s for v in (await session.exec(select(Vote))).all()}
    assert [stored[t] for t in turns] == [12.5, 3.0, None, None, 40.0, None, None, None, None]


async def test_a_duplicate_vote_on_the_same_prompt_and_pair_is_refused(db: Database) -> None:
    ana, ben = await add_rater(db, "ana", "pw-ana-1"), await add_rater(db, "ben", "pw-ben-1")
    assert ana.id is not None and ben.id is not None
    first = await rated_pair(db, ana.id, "What is 2+2?", ("alpha", "beta"))
    for models in (("alpha", "beta"), ("beta", "alpha")):  # either side
        with pytest.raises(RatingRefused,
                           match=rf"already voted on this prompt with the same two models \(turn {first}\)"):
            await rated_pair(db, ana.id, "What is 2+2?", models)
    await rated_pair(db, ana.id, "What is 2+2?", ("alpha", "gamma"))  # another pair
    await rated_pair(db, ana.id, "What is 3+3?", ("alpha", "beta"))  # another prompt
    await rated_pair(db, ben.id, "What is 2+2?", ("alpha", "beta"))  # another rater
    await submit_rating(db, ana.id, submission(first, "tie"))  # changing the first vote is fine
    async with db.sessions() as session:
        votes = (await session.exec(select(Vote).where(Vote.rater_id == ana.id))).all()
        unvoted = (await session.exec(select(Turn).where(Turn.prompt == "What is 2+2?"))).all()
    assert len(votes) == 3 and len(unvoted) == 5  # the refused turns are stored, without a vote


async def test_a_later_turn_is_no_duplicate_and_the_queue_skips_duplicates(db: Database) -> None:
    ana = await add_rater(db, "ana", "pw-ana-1")
    assert ana.id is not None
    for _ in range(2):  # the same follow-up in two conversations: different histories
        conversation = str(uuid.uuid4())
        await ensure_conversation(db, conversation, ana.id, blind=True, model_a="alpha", model_b="beta")
        for prompt in (f"opening {conversation}", "And why?"):
            turn = await save_turn(db, conversation, prompt=prompt, system_prompt="", settings={},
                                   records={"a": record("a", "alpha"), "b": record("b", "beta")}, sampling={},
                                   message_id=None)
            await submit_rating(db, ana.id, submission(turn.id))  # type: ignore[arg-type]
    # A batch item with a prompt ana already voted on with its pair: the queue does not hand it out.
    await rated_pair(db, ana.id, "question 0", ("right", "left"))
    [_, other] = await batch_of(db, 2)  # "question 0" and "question 1", left vs right
    assert await next_for_rater(db, ana.id, "quick-20", overlap=1) == other
    await submit_rating(db, ana.id, submission(other))
    assert await next_for_rater(db, ana.id, "quick-20", overlap=1) is None


def test_the_gold_command_stores_a_sets_gold_items(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gold.db'}"
    assert playground("db", "upgrade", db_url=url).returncode == 0
    prompt_set = tmp_path / "golden.yaml"
    prompt_set.write_text(
        "name: golden\nitems:\n"
        "  - {id: g1, category: math, difficulty: easy, language: en, prompt: '2 + 2?',\n"
        "     gold: {answer_a: '4', answer_b: '22', verdict: a}}\n"
        "  - {id: g2, category: math, difficulty: easy, language: en, prompt: '3 + 3?'}\n", encoding="utf-8")
    done = playground("gold", str(prompt_set), db_url=url)
    assert done.returncode == 0 and "golden: stored 1 gold items, 0 already stored" in done.stderr, done.stderr
    again = playground("gold", str(prompt_set), db_url=url)
    assert "stored 0 gold items, 1 already stored" in again.stderr
    prompt_set.write_text("name: golden\nitems:\n  - {id: g1, category: math, difficulty: easy, language: en, "
                          "prompt: '2 + 2?', gold: {answer_a: '4', verdict: a}}\n", encoding="utf-8")
    broken = playground("gold", str(prompt_set), db_url=url)
    assert broken.returncode == 2 and "golden.yaml: items[0] (g1).gold.answer_b: Field required" in broken.stderr
