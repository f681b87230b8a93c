"""Chainlit's data layer on the playground's database (SQLite and PostgreSQL): the sidebar
history, and a reopened thread's panes and rating rebuilt from the playground's tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import chainlit as cl
from chainlit.types import Pagination, ThreadFilter

from playground.store.database import Database
from playground.store.ratings import submit_rating
from playground.store.records import save_turn
from playground.ui.data_layer import PlaygroundDataLayer, element_id
from playground.ui.i18n import text as label_in
from playground.ui.rating_panel import PANEL_LABELS, VOTES

from .store_helpers import rater_with_turns, record, submission

# A reopened thread is read over HTTP, outside any websocket session: its labels are English.
PANEL_ENGLISH = {name: label_in("en", f"rating.{name}") for name in PANEL_LABELS}


async def test_history_lists_the_thread_and_rebuilds_its_elements(db: Database) -> None:
    layer = PlaygroundDataLayer(db)
    rater, _ = await rater_with_turns(db, "rita", turns=0)
    user = await layer.create_user(cl.User(identifier="rita", metadata={"rater_id": rater.id}))
    assert user is not None and (await layer.get_user("rita")).identifier == "rita"  # type: ignore[union-attr]

    # A thread as Chainlit writes it: the thread, the user's message, the arena's message.
    thread_id, prompt_step, arena_step = (str(uuid.uuid4()) for _ in range(3))
    await layer.update_thread(thread_id, name="Name three colours.", user_id=user.id)
    steps = ((prompt_step, "user_message", "Name three colours."), (arena_step, "assistant_message", ""))
    for n, (step_id, kind, text) in enumerate(steps):
        created = datetime(2026, 11, 27, 12, 0, n, tzinfo=UTC).isoformat()
        # Chainlit queues steps until a session's first message; called directly here.
        await PlaygroundDataLayer.create_step.__wrapped__(layer, {  # type: ignore[attr-defined]
            "id": step_id, "threadId": thread_id, "type": kind, "name": "rita" if kind == "user_message" else "Arena",
            "output": text, "createdAt": created, "streaming": False, "metadata": {},
        })

    # The playground's side of it: the conversation, its finished turn, the rating.
    from playground.store.records import ensure_conversation

    await ensure_conversation(db, thread_id, rater.id, blind=True, model_a="m-left", model_b="m-right")  # type: ignore[arg-type]
    turn = await save_turn(
        db, thread_id, prompt="Name three colours.", system_prompt="", settings={},
        records={"a": record("a", "m-left", text="Red, green, blue."),
                 "b": record("b", "m-right", status="stopped", text="Cyan")},
        sampling={}, message_id=arena_step,
    )

    listed = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=user.id))
    assert [t["id"] for t in listed.data] == [thread_id]
    assert await layer.get_thread_author(thread_id) == "rita"

    thread = await layer.get_thread(thread_id)
    assert thread is not None
    assert [s["id"] for s in thread["steps"]] == [prompt_step, arena_step]
    elements = {e["name"]: e for e in thread["elements"] or []}
    panes, panel = elements["SideBySide"], elements["RatingPanel"]
    assert panes["id"] == element_id("panes", turn.id) and panes["forId"] == arena_step  # type: ignore[arg-type]
    assert "Red, green, blue." in panes["props"]["panes"]["a"]["html"]  # type: ignore[index]
    assert panes["props"]["panes"]["b"]["status"] == "stopped"  # type: ignore[index]
    assert panes["props"]["panes"]["a"]["model"] is None  # still blind: no names yet  # type: ignore[index]
    assert panel["props"] == {"turnId": turn.id, "votes": VOTES, "scale": [1, 2, 3, 4, 5], "saved": None,  # type: ignore[comparison-overlap]
                              "revealed": None, "checks": None, "message": "", "error": "",
                              "sides": {"a": "Model A", "b": "Model B"}, "labels": PANEL_ENGLISH}

    await submit_rating(db, rater.id, submission(turn.id, winner="model_b"))  # type: ignore[arg-type]
    thread = await layer.get_thread(thread_id)
    elements = {e["name"]: e for e in thread["elements"] or []}  # type: ignore[index]
    assert elements["SideBySide"]["props"]["panes"]["a"]["model"] == "m-left"  # type: ignore[index]
    assert elements["RatingPanel"]["props"]["revealed"] == {"a": "m-left", "b": "m-right"}  # type: ignore[index]
    assert elements["RatingPanel"]["props"]["saved"]["winner"] == "model_b"  # type: ignore[index]


async def test_chainlit_statements_queue_behind_urgent_writes_and_reads_never_wait(db: Database) -> None:
    """On SQLite, Chainlit's bookkeeping waits for a rating being written (it does not take the
    database's lock itself), and its reads go on meanwhile; on PostgreSQL nothing queues."""
    import asyncio

    layer = PlaygroundDataLayer(db)
    rater, _ = await rater_with_turns(db, "wendy", turns=0)
    user = await layer.create_user(cl.User(identifier="wendy", metadata={"rater_id": rater.id}))
    assert user is not None
    release = asyncio.Event()

    async def urgent_write() -> None:
        async with db.transaction():
            await release.wait()

    holding = asyncio.create_task(urgent_write())
    await asyncio.sleep(0.05)
    thread_id = str(uuid.uuid4())
    bookkeeping = asyncio.create_task(layer.update_thread(thread_id, name="Waits its turn.", user_id=user.id))
    found = await asyncio.wait_for(layer.get_user("wendy"), 5.0)  # a read: not behind the writer
    assert found is not None and found.identifier == "wendy"
    await asyncio.sleep(0.1)
    assert bookkeeping.done() is (db.dialect != "sqlite")  # SQLite: queued behind the urgent write
    release.set()
    await asyncio.wait_for(asyncio.gather(holding, bookkeeping), 10.0)
    thread = await layer.get_thread(thread_id)
    assert thread is not None and thread["name"] == "Waits its turn."  # written once its turn came
