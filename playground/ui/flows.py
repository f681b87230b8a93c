"""The app's guided flows, as Chainlit messages: stepping through a prompt set, the rating queue
and the leaderboard. The hooks that call them live in chainlit_app.py.

Set names and item numbers come from the browser: only listed set names are accepted (never a
path), and an item number out of range is refused with a message.
"""

from __future__ import annotations

import asyncio

import chainlit as cl

from playground.arena.lifecycle import TurnInput
from playground.arena.needle import CellOutcome, run_needle
from playground.backends.base import TokenCountUnavailable
from playground.evalsets.needle import GENERATED, NeedleGridSpec, NeedleSpecError
from playground.evalsets.prompt_sets import PromptSetError, listed_step, set_names
from playground.output.needle_plots import needle_heat_maps
from playground.store.needle_queries import needle_grid
from playground.store.queue import next_for_rater, queue_progress, queued_turn
from playground.store.records import record_of
from playground.ui.context import AppContext
from playground.ui.duel_flow import run_turn, shown_elements
from playground.ui.language import current_language, say
from playground.ui.leaderboard import leaderboard
from playground.ui.panes import duel_props, stored_contexts
from playground.ui.rating_panel import rating_panel_props


def queue_scope(text: str) -> str | None:
    """A queue limited to one prompt set when its name is given, else every batch item."""
    return text if text in set_names() else None


async def start_prompt_set(app: AppContext, name: str) -> None:
    if name not in set_names():
        await cl.Message(content=say("set.unknown", name=repr(name), sets=", ".join(set_names()))).send()
        return
    await run_set_item(app, name, 0)


async def run_set_item(app: AppContext, name: object, index: object) -> None:
    """Show the item, run it as a duel turn (stored with its set, id and category), offer the next."""
    try:
        prompt_set, index = listed_step(name, index)
    except PromptSetError as exc:
        await cl.Message(content=say("set.not_run", error=exc), author=say("set.author")).send()
        return
    total = len(prompt_set.items)
    if index == total:
        await cl.Message(content=say("set.last", total=total, name=prompt_set.name)).send()
        return
    item = prompt_set.items[index]
    document = say("set.document", tokens=f"{item.document.tokens:,}") if item.document else ""
    await cl.Message(
        content=say("set.item", name=prompt_set.name, number=index + 1, total=total, item=item.id,
                    category=item.category, difficulty=item.difficulty, document=document, question=item.question),
        author=say("set.author"),
    ).send()
    await run_turn(app, TurnInput.from_item(prompt_set.name, item))
    await cl.Message(
        content="", author=say("set.author"),
        actions=[cl.Action(name="next_item", payload={"set": prompt_set.name, "index": index + 1},
                           label=say("set.next", number=index + 2, total=total) if index + 1 < total
                           else say("set.done"))],
    ).send()


async def show_next_queue_item(app: AppContext, rater_id: int) -> None:
    """The next batch answer pair this rater should rate, blind, with the queue's progress."""
    overlap = app.config.arena.queue_overlap
    queue = cl.user_session.get("queue") or {"set": None}
    turn_id = await next_for_rater(app.db, rater_id, queue["set"], overlap, gold_rate=app.config.arena.gold_rate)
    progress = await queue_progress(app.db, rater_id, queue["set"], overlap)
    status = say("queue.status", yours=progress.rated_by_you, fully=progress.fully_rated, total=progress.total,
                 overlap=overlap, raters=say("queue.raters" if overlap > 1 else "queue.rater"),
                 scope=queue["set"] or say("queue.all_sets"))
    if turn_id is None:
        await cl.Message(content=say("queue.empty", status=status), author=say("queue.author")).send()
        return
    turn, responses = await queued_turn(app.db, turn_id)
    records = {side: record_of(response) for side, response in responses.items()}
    question = turn.prompt if len(turn.prompt) <= 2000 else "… " + turn.prompt[-1000:]
    panes = cl.CustomElement(name="SideBySide", props=duel_props(records, blind=True,
                                                                 contexts=stored_contexts(responses)),
                             display="inline")
    message = cl.Message(
        content=say("queue.item", set=turn.prompt_set, item=turn.item_id, status=status, question=question),
        author=say("queue.author"), elements=[panes],
    )
    await message.send()
    rating = cl.CustomElement(name="RatingPanel", props=rating_panel_props(turn_id), display="inline")
    await rating.send(for_id=message.id)
    shown_elements()[turn_id] = {"panes": panes, "rating": rating, "queue": True, "records": records,
                                 "contexts": stored_contexts(responses)}


async def show_leaderboard(app: AppContext) -> None:
    user = cl.user_session.get("user")
    admin = bool(user and user.metadata.get("admin"))
    text, plots = await leaderboard(app.db, admin=admin, language=current_language())
    images = [cl.Image(name=title, content=png, mime="image/png", display="inline") for title, png in plots.items()]
    await cl.Message(content=text, author=say("leaderboard.author"), elements=images).send()


async def run_needle_sweep(app: AppContext, spec: str) -> None:
    """`/needle LENGTHS [DEPTHS]`: the needle-in-a-haystack grid against the arena's two models,
    cell by cell with progress, then one heat map per model side by side. Cells already answered
    by the same two models are not asked again (the sweep goes on where it stopped)."""
    words = spec.split()
    try:
        grid = NeedleGridSpec.parse(words[0] if words else "", words[1] if len(words) > 1 else "0,25,50,75,100", 1)
    except NeedleSpecError as exc:
        await cl.Message(content=say("needle.not_run", error=f"{exc}. {say('needle.usage')}"),
                         author=say("needle.author")).send()
        return
    models = (app.config.arena.model_a, app.config.arena.model_b)
    status = cl.Message(content=say("needle.started", cells=len(grid.cells(GENERATED.key))),
                        author=say("needle.author"))
    await status.send()
    tally = {"done": 0, "failed": 0}

    def ended(outcome: CellOutcome) -> None:
        tally["done" if outcome.ok else "failed"] += 1

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(2)
            status.content = say("needle.progress", done=tally["done"], failed=tally["failed"])
            await status.update()

    ticker = asyncio.create_task(report_progress())
    try:
        result = await run_needle(app.db, app.config, app.pool, models, grid, on_cell=ended)
    except TokenCountUnavailable as exc:
        status.content = say("needle.not_run", error=exc)
        await status.update()
        return
    finally:
        ticker.cancel()
    found = (await needle_grid(app.db, models, GENERATED.key)).restricted(grid.lengths, grid.depths)
    heat_maps = await asyncio.to_thread(needle_heat_maps, found)
    problems = "".join(say("needle.problem", item=o.item_id, problem=p) for o in result.failed for p in o.problems[:1])
    status.content = say("needle.result", done=result.done, failed=len(result.failed), skipped=result.skipped,
                         problems=problems)
    await status.update()
    if heat_maps is not None:
        image = cl.Image(name="Needle heat maps", content=heat_maps, mime="image/png", display="inline")
        await cl.Message(content=say("needle.maps"), author=say("needle.author"), elements=[image]).send()
