"""One turn's life (open -> stream -> records -> checks -> store) on fake backends and a real
database: the same TurnRun the app, the prompt-set stepping and batch runs use. No model server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from playground.arena.batch import run_batch
from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.backends.fake import FakeBackend, words_script
from playground.backends.registry import BackendPool
from playground.core.config import PlaygroundConfig, parse_config
from playground.core.events import Done, ErrorEvent, TextDelta
from playground.evalsets.prompt_sets import load_listed_set, parse_prompt_set
from playground.store.database import Database
from playground.store.queue import batch_rater_id
from playground.store.raters import add_rater
from playground.store.ratings import submit_rating
from playground.store.records import stored_checks
from playground.store.tables import Conversation, Response, Turn

from .store_helpers import submission


def fake_config() -> PlaygroundConfig:
    # Real config entries whose backends the tests swap for fakes (the URLs are never called).
    entry = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
             "defaults": {"temperature": 0.3, "max_tokens": 64}}
    return parse_config({"models": [{"name": "left", **entry}, {"name": "right", **entry}],
                         "arena": {"model_a": "left", "model_b": "right", "blind": False}}, "fake.yaml")


def fake_pool(config: PlaygroundConfig, left: FakeBackend, right: FakeBackend) -> BackendPool:
    pool = BackendPool(config)
    pool.register("left", left)
    pool.register("right", right)
    return pool


async def chat_seat(db: Database) -> ConversationSeat:
    rater = await add_rater(db, f"r{uuid.uuid4().hex[:6]}", "password-1")
    assert rater.id is not None
    return ConversationSeat(str(uuid.uuid4()), rater.id)


async def responses_of(db: Database, turn_id: int) -> dict[str, Response]:
    async with db.sessions() as session:
        rows = (await session.exec(select(Response).where(Response.turn_id == turn_id))).all()
    return {r.side: r for r in rows}


async def test_a_chat_turn_is_stored_and_each_side_keeps_its_own_history(db: Database) -> None:
    config = fake_config()
    left = FakeBackend("left", [words_script("Paris is the capital."), words_script("Second left.")])
    right = FakeBackend("right", [words_script("It is Lyon."), words_script("Second right.")])
    duel = Duel.from_config(config, fake_pool(config, left, right))
    seat = await chat_seat(db)
    seen: list[str] = []
    first = TurnRun(db, duel, seat, TurnInput("Capital of France?", "Be brief."), TurnSettings(max_tokens=32))
    await first.open()
    turn = await first.play(on_event=lambda e: seen.append(e.side))
    assert set(seen) == {"a", "b"}
    stored = await responses_of(db, turn.id)  # type: ignore[arg-type]
    assert (stored["a"].text, stored["a"].status, stored["b"].text) == ("Paris is the capital.", "done", "It is Lyon.")
    assert stored["a"].sampling["max_tokens"] == 32 and stored["a"].sampling["temperature"] == 0.3
    assert stored["a"].check_verdict is None and stored["a"].check_basis is None  # a typed prompt
    assert turn.system_prompt == "Be brief." and turn.prompt_set is None

    second = TurnRun(db, duel, seat, TurnInput("And Italy?", "Be brief."))
    await second.play()
    # Each model saw its own earlier answer, never the other side's.
    assert left.requests[1][0] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris is the capital."}, {"role": "user", "content": "And Italy?"},
    ]
    assert right.requests[1][0][2] == {"role": "assistant", "content": "It is Lyon."}
    async with db.sessions() as session:
        positions = (await session.exec(select(Turn.position).where(Turn.conversation_id == seat.id))).all()
    assert sorted(positions) == [0, 1]


async def test_an_item_turn_stores_the_verdicts_and_what_they_were_checked_against(db: Database) -> None:
    config = fake_config()
    item = load_listed_set("quick-20").item("math_01")  # 15 + 27, reference "42"
    left = FakeBackend("left", [words_script("<think>maybe 41</think>It is 42.")])
    right = FakeBackend("right", [words_script("It is 41.")])
    duel = Duel.from_config(config, fake_pool(config, left, right))
    seat = await chat_seat(db)
    run = TurnRun(db, duel, seat, TurnInput.from_item("quick-20", item))
    turn = await run.play()
    stored = await responses_of(db, turn.id)  # type: ignore[arg-type]
    assert (stored["a"].reference_match, stored["b"].reference_match) == (True, False)
    assert stored["a"].check_basis == {"prompt_set": "quick-20", "item_id": "math_01", "references": ["42"],
                                       "constraints": []}
    assert (turn.prompt_set, turn.item_id, turn.category) == ("quick-20", "math_01", "math")
    checks = await stored_checks(db, turn.id)  # type: ignore[arg-type]
    assert checks is not None and checks["a"].startswith("✓") and checks["b"].startswith("✗")
    # Rated, the acknowledgement carries the same verdicts, known in the rating's transaction.
    assert (await submit_rating(db, seat.owner, submission(turn.id))).checks == checks  # type: ignore[arg-type]
    assert left.requests[0][0] == [{"role": "user", "content": "Calculate: 15 + 27 = ?"}]


async def test_an_items_own_messages_and_system_prompt_reach_both_models(db: Database) -> None:
    prompt_set = parse_prompt_set({"name": "multi", "items": [{
        "id": "m1", "category": "chat", "difficulty": "easy", "language": "en", "system_prompt": "Sys.",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                     {"role": "user", "content": "Say 7."}], "references": ["7"]}]}, "multi.yaml")
    config = fake_config()
    left, right = FakeBackend("left", [words_script("7")]), FakeBackend("right", [words_script("eight")])
    duel = Duel.from_config(config, fake_pool(config, left, right))
    duel.contenders["a"].history.append({"role": "user", "content": "an earlier chat turn"})
    turn = await TurnRun(db, duel, await chat_seat(db), TurnInput.from_item("multi", prompt_set.items[0])).play()
    expected = [{"role": "system", "content": "Sys."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Say 7."}]
    assert left.requests[0][0] == expected and right.requests[0][0] == expected
    assert turn.settings["history"] == expected[1:3] and turn.system_prompt == "Sys."


async def test_a_stopped_turn_is_stored_with_the_partial_answers_and_no_verdict(db: Database) -> None:
    config = fake_config()
    slow = [(0.0, TextDelta("Part one"))] + [(0.05, TextDelta(" more")) for _ in range(200)] + [(0.0, Done("stop"))]
    left, right = FakeBackend("left", [slow]), FakeBackend("right", [slow])
    duel = Duel.from_config(config, fake_pool(config, left, right))
    item = load_listed_set("quick-20").item("math_01")
    run = TurnRun(db, duel, await chat_seat(db), TurnInput.from_item("quick-20", item))
    streamed: list[str] = []
    task = asyncio.create_task(run.play(on_event=lambda e: streamed.append(e.side)))
    while len(streamed) < 4:
        await asyncio.sleep(0.01)
    task.cancel()  # what Chainlit's Stop does to the message task
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.stored is not None and left.closed == 1 and right.closed == 1
    stored = await responses_of(db, run.stored.id)  # type: ignore[arg-type]
    for side in ("a", "b"):
        assert stored[side].status == "stopped" and stored[side].text.startswith("Part one")
        assert stored[side].check_verdict is None and stored[side].reference_match is None


async def test_an_error_on_one_side_is_stored_while_the_other_completes(db: Database) -> None:
    config = fake_config()
    left = FakeBackend("left", [[(0.0, TextDelta("half")), (0.0, ErrorEvent("HTTP 500: boom"))]])
    right = FakeBackend("right", [[(0.0, TextDelta("no end"))]])  # a stream cut short: no Done
    duel = Duel.from_config(config, fake_pool(config, left, right))
    turn = await TurnRun(db, duel, await chat_seat(db), TurnInput("q")).play()
    stored = await responses_of(db, turn.id)  # type: ignore[arg-type]
    assert (stored["a"].status, stored["a"].error, stored["a"].text) == ("error", "HTTP 500: boom", "half")
    assert stored["b"].status == "error" and "ended without a result" in (stored["b"].error or "")


async def test_a_batch_run_goes_through_the_same_lifecycle(db: Database, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\nitems:\n"
        "  - {id: t1, category: math, difficulty: easy, language: en, prompt: 'Two plus two?', references: ['4']}\n"
        "  - {id: t2, category: math, difficulty: easy, language: en, prompt: 'Three plus four?', references: ['7']}\n"
    )
    monkeypatch.setenv("PLAYGROUND_PROMPTS", str(tmp_path))
    config = fake_config()
    left, right = FakeBackend("left", [words_script("It is 4.")]), FakeBackend("right", [words_script("It is 7.")])
    prompt_set = load_listed_set("tiny")
    result = await run_batch(db, config, fake_pool(config, left, right), prompt_set, ("left", "right"), seed=1)
    assert (result.done, result.failed) == (2, [])
    owner = await batch_rater_id(db)
    async with db.sessions() as session:
        rows = (await session.exec(
            select(Conversation.kind, Conversation.rater_id, Turn.item_id, Response.model, Response.reference_match)
            .join(Turn, Turn.conversation_id == Conversation.id).join(Response, Response.turn_id == Turn.id)
        )).all()
    assert {(kind, rater) for kind, rater, *_ in rows} == {("batch", owner)}
    matches = {(item, model): match for *_, item, model, match in rows}
    assert matches == {("t1", "left"): True, ("t1", "right"): False, ("t2", "left"): False, ("t2", "right"): True}
    again = await run_batch(db, config, fake_pool(config, left, right), prompt_set, ("left", "right"))
    assert (again.skipped, again.outcomes) == (2, [])
