"""The duel, the redraw throttle and the pane props together, on fake backends with scripted
timings: no server, and the order of events rather than wall-clock bounds."""

from __future__ import annotations

import asyncio
import random

from playground.arena.duel import Duel, TurnSettings
from playground.backends.fake import FakeBackend
from playground.core.events import Done, ReasoningDelta, TextDelta
from playground.store.database import Database
from playground.ui.panes import duel_props
from playground.ui.throttle import RedrawThrottle

from .test_lifecycle import fake_config, fake_pool


def ticking(text: str, delay: float) -> list:
    return [(delay, TextDelta(ch)) for ch in text] + [(delay, Done("stop", output_tokens=len(text)))]


async def test_both_sides_stream_at_once_and_the_last_redraw_shows_the_final_state() -> None:
    config = fake_config()
    left = FakeBackend("left", [[(0.0, ReasoningDelta("hmm"))] + ticking("**Bold** answer", 0.002)])
    right = FakeBackend("right", [ticking("Other answer, longer than the first one", 0.002)])
    duel = Duel.from_config(config, fake_pool(config, left, right))
    turn = duel.start_turn("q", TurnSettings())
    drawn: list[dict] = []

    async def redraw() -> None:
        drawn.append(duel_props(turn.generations, blind=duel.blind))
        await asyncio.sleep(0.005)  # sending takes time: changes pile up meanwhile

    throttle = RedrawThrottle(redraw, min_interval=0.01)
    order: list[tuple[str, str]] = []
    async for item in turn.stream():
        order.append((item.side, item.event.kind))
        throttle.changed()
    await throttle.close()

    first_text = {side: order.index((side, "text")) for side in ("a", "b")}
    done = {side: order.index((side, "done")) for side in ("a", "b")}
    assert max(first_text.values()) < min(done.values())  # both had started before either ended
    assert 1 < throttle.redraws < len(order)  # merged, not one redraw per event
    final = drawn[-1]["panes"]
    assert final["a"]["html"] == "<p><strong>Bold</strong> answer</p>\n" and final["a"]["reasoning"] == "hmm"
    assert final["b"]["html"] == "<p>Other answer, longer than the first one</p>\n"
    assert (final["a"]["status"], final["b"]["status"]) == ("done", "done")
    assert final["a"]["model"] == "left"  # the fake config is named, not blind


async def test_blind_panes_never_carry_the_model_names() -> None:
    config = fake_config()
    arena = config.arena.model_copy(update={"blind": True})
    config = config.model_copy(update={"arena": arena})
    left, right = FakeBackend("left", [ticking("x", 0.0)]), FakeBackend("right", [ticking("y", 0.0)])
    seen = set()
    for seed in range(12):
        duel = Duel.from_config(config, fake_pool(config, left, right), random.Random(seed))
        seen.add(duel.contenders["a"].model)
        turn = duel.start_turn("q", TurnSettings())
        async for _ in turn.stream():
            props = duel_props(turn.generations, blind=duel.blind)
            assert {pane["model"] for pane in props["panes"].values()} == {None}
    assert seen == {"left", "right"}  # sides drawn at random


async def test_a_side_still_reading_its_prompt_says_so_and_stop_works_during_prefill(db: Database) -> None:
    import hashlib
    import time

    from sqlmodel import select

    from playground.arena.lifecycle import TurnInput, TurnRun
    from playground.backends.fake import words_script
    from playground.store.documents import DocumentText
    from playground.store.tables import Response
    from playground.ui.panes import live_contexts

    from .test_lifecycle import chat_seat

    config = fake_config()
    reading = FakeBackend("left", [[(30.0, TextDelta("late"))]])  # 30 s before its first token
    quick = FakeBackend("right", [words_script("a quick answer")])
    duel = Duel.from_config(config, fake_pool(config, reading, quick))
    text = " ".join(f"w{i}" for i in range(300))
    document = DocumentText(hashlib.sha256(text.encode()).hexdigest(), "d.txt", "text", text, len(text), None)
    run = TurnRun(db, duel, await chat_seat(db), TurnInput("q?", documents=(document,)))
    prepared = asyncio.Event()
    task = asyncio.create_task(run.play(on_prepared=prepared.set))
    await asyncio.wait_for(prepared.wait(), 5)
    while run.turn.generations["b"].status != "done":
        await asyncio.sleep(0.01)
    panes = duel_props(run.turn.generations, blind=False, contexts=live_contexts(run.turn))["panes"]
    # The slow side has sent nothing: its pane has the count and the time it started reading,
    # from which the browser shows "Reading N tokens… s".
    assert (panes["a"]["status"], panes["a"]["html"]) == ("streaming", "")
    assert panes["a"]["context"]["tokens"] == run.turn.plans["a"].sent_tokens and panes["a"]["context"]["tokens"] > 300
    assert abs(panes["a"]["context"]["readingSinceMs"] / 1000 - time.time()) < 5
    assert panes["a"]["context"]["line"] == f"{panes['a']['context']['tokens']:,} tokens of 4,096"
    assert panes["b"]["html"] and panes["b"]["status"] == "done"
    task.cancel()  # Stop while the slow side is still reading
    try:
        await asyncio.wait_for(task, 2)
    except asyncio.CancelledError:
        pass
    assert reading.closed == 1 and run.stored is not None
    async with db.sessions() as session:
        rows = (await session.exec(select(Response).where(Response.turn_id == run.stored.id))).all()
    stored = {r.side: r for r in rows}
    assert (stored["a"].status, stored["a"].text, stored["b"].status) == ("stopped", "", "done")
