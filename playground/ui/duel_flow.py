"""A duel turn in the chat, and the rating panel's submit.

The turn's life (stream -> record -> checks -> store) is :class:`playground.arena.lifecycle.TurnRun`;
this module only shows it: the side-by-side element redrawn through the throttle while the answers
stream, then the rating panel under it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import chainlit as cl

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.core.vocabulary import SIDES
from playground.store.ratings import RatingRefused, ratings_of_turn, submit_rating
from playground.store.records import load_conversation, record_of, stored_checks
from playground.ui.context import AppContext
from playground.ui.language import say
from playground.ui.panes import duel_props, live_contexts, stored_contexts
from playground.ui.rating_panel import rating_panel_props
from playground.ui.throttle import RedrawThrottle

# Chainlit's frontend drops element updates that land while it handles its own Stop (seen in
# Chromium: the panes stayed "streaming"): after a Stop the final state is sent this much later.
STOP_REDRAW_DELAY_S = 0.5


def current_rater_id() -> int:
    user = cl.user_session.get("user")
    return int(user.metadata["rater_id"])


def shown_elements() -> dict[int, dict[str, Any]]:
    """turn id -> {"panes": element, "rating": element, ...} of what this session shows."""
    elements: dict[int, dict[str, Any]] = cl.user_session.get("elements")
    return elements


async def push(element: cl.CustomElement) -> None:
    element.content = json.dumps(element.props)
    await element.update()


async def run_turn(app: AppContext, request: TurnInput) -> None:
    """One duel turn in this conversation: both answers streamed, stored, then the rating panel."""
    duel: Duel | None = cl.user_session.get("duel")
    if duel is None:
        await cl.Message(content=say("chat.cannot_continue")).send()
        return
    settings: TurnSettings = cl.user_session.get("settings")
    if request.item is None:  # a typed prompt goes with the settings panel's system prompt
        request = TurnInput(request.prompt, settings.system_prompt, documents=request.documents)
    seat = ConversationSeat(cl.context.session.thread_id, current_rater_id())
    run = TurnRun(app.db, duel, seat, request, settings, policies=cl.user_session.get("policies"))
    element = cl.CustomElement(name="SideBySide", props=duel_props(run.turn.generations, duel.blind), display="inline")
    message = cl.Message(content="", author="Arena", elements=[element])
    await message.send()
    run.message_id = message.id

    async def redraw() -> None:
        element.props = duel_props(run.turn.generations, duel.blind, live_contexts(run.turn))
        await push(element)

    throttle = RedrawThrottle(redraw)
    try:
        await run.play(on_event=lambda _: throttle.changed(), on_streamed=throttle.close,
                       on_prepared=throttle.changed)
    finally:
        if run.stored is not None:
            turn_id = run.stored.id
            assert turn_id is not None
            rating = cl.CustomElement(name="RatingPanel", props=rating_panel_props(turn_id), display="inline")
            shown_elements()[turn_id] = {"panes": element, "rating": rating}

            async def show_final() -> None:
                await redraw()
                await rating.send(for_id=message.id)

            if any(g.status == "stopped" for g in run.turn.generations.values()):
                # Not awaited: the stopped task should end now.
                asyncio.get_running_loop().call_later(
                    STOP_REDRAW_DELAY_S, lambda: asyncio.ensure_future(show_final())
                )
            else:
                await rating.send(for_id=message.id)


async def rate(app: AppContext, payload: Any) -> dict[str, Any]:
    """The rating panel's submit: checked and committed before the rater sees "Saved"."""
    from playground.ui.flows import show_next_queue_item

    elements = shown_elements() or {}
    turn_id = payload.get("turn_id") if isinstance(payload, dict) else None
    shown = elements.get(turn_id) if isinstance(turn_id, int) else None
    rater_id = current_rater_id()
    try:
        stored = await submit_rating(app.db, rater_id, payload)
    except RatingRefused as exc:
        if shown and isinstance(turn_id, int):
            shown["rating"].props = {**rating_panel_props(turn_id), "error": str(exc)}
            await push(shown["rating"])
        return {"ok": False, "message": str(exc)}
    saved = await ratings_of_turn(app.db, stored.turn_id, rater_id)
    # A gold item's answers are never named: "(gold answer a)" would tell the rater which items
    # check them, and the queue mixes gold in unmarked.
    names = None if stored.gold else {"a": stored.model_a, "b": stored.model_b}
    acknowledged = say("rating.updated" if stored.changed else "rating.saved")
    if shown:
        shown["rating"].props = rating_panel_props(
            stored.turn_id, saved=saved, revealed=names, message=acknowledged,
            checks=await stored_checks(app.db, stored.turn_id),
        )
        await push(shown["rating"])
    if shown and shown.get("queue"):
        # A queue item: reveal its own panes only (not a gold item's), then hand over the next one.
        if not stored.gold:
            shown["panes"].props = duel_props(shown["records"], blind=False, contexts=shown.get("contexts"))
            await push(shown["panes"])
        if not stored.changed:
            await show_next_queue_item(app, rater_id)
        return {"ok": True, "message": acknowledged}
    duel: Duel | None = cl.user_session.get("duel")
    if duel is not None and duel.blind:
        duel.blind = False  # the names are known now; later turns are shown (and stored) named
        await _reveal_panes(app, cl.context.session.thread_id, elements)
    return {"ok": True, "message": acknowledged}


async def _reveal_panes(app: AppContext, conversation_id: str, elements: dict[int, dict[str, Any]]) -> None:
    loaded = await load_conversation(app.db, conversation_id)
    if loaded is None:
        return
    for turn, responses in loaded[1]:
        shown = elements.get(turn.id) if turn.id is not None else None
        if shown and set(responses) == set(SIDES):
            records = {side: record_of(responses[side]) for side in SIDES}
            shown["panes"].props = duel_props(records, blind=False, contexts=stored_contexts(responses))
            await push(shown["panes"])
