"""A duel turn in the chat, and the rating panel's submit.

The turn's life (stream -> record -> checks -> store) is :class:`playground.arena.lifecycle.TurnRun`;
this module only shows it: the side-by-side element redrawn through the throttle while the answers
stream, then the rating panel under it.

A streamed element is sent once (labels, empty panes, a ``streamId``); each redraw then emits a
``pane_delta`` event with only what changed (``playground/ui/pane_delta.py``), rendered
incrementally (``markdown_stream``). The final state is one full render of each answer, sent as a
delta too: the element's props are never re-sent while or after streaming (a reload or a reopened
conversation rebuilds them from the tables, ``data_layer``), and the reveal after the vote is a
delta carrying the model names.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import chainlit as cl

from playground.arena.duel import Duel, TurnSettings
from playground.arena.lifecycle import ConversationSeat, TurnInput, TurnRun
from playground.core.events import SideEvent
from playground.core.generation import Generation
from playground.core.vocabulary import SIDES, Side
from playground.store.ratings import RatingRefused, submit_rating
from playground.store.records import load_conversation, record_of
from playground.ui.context import AppContext
from playground.ui.language import say
from playground.ui.markdown_stream import StreamingMarkdown
from playground.ui.pane_delta import EVENT, PaneStream, new_stream_id
from playground.ui.panes import duel_props, live_contexts, stored_contexts, streamed_duel_props
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


# A session keeps the streams of its last turns, for a browser that asks for a full state.
KEPT_STREAMS = 50


def session_streams() -> dict[str, PaneStream]:
    streams: dict[str, PaneStream] | None = cl.user_session.get("pane_streams")
    if streams is None:
        streams = {}
        cl.user_session.set("pane_streams", streams)
    return streams


async def send_delta(stream: PaneStream, panes: dict[str, Any]) -> None:
    event = stream.delta(panes)
    if event is not None:
        await cl.context.emitter.emit(EVENT, event)


async def pane_sync(message: Any) -> None:
    """A browser that missed a ``pane_delta`` (a gap in ``n``) asks for the whole state:
    ``{"paneSync": streamId}`` on Chainlit's ``window_message`` (chainlit_app.py's hook)."""
    stream_id = message.get("paneSync") if isinstance(message, dict) else None
    stream = session_streams().get(stream_id) if isinstance(stream_id, str) else None
    if stream is not None:
        await cl.context.emitter.emit(EVENT, stream.full())


class LivePanes:
    """The panes of one streamed turn: each answer rendered incrementally while it streams and
    fully once it has ended (that render is cached), sent as deltas."""

    def __init__(self, run: TurnRun, blind: bool) -> None:
        self.run = run
        generations = run.turn.generations
        stream_id = new_stream_id()
        self.props = streamed_duel_props(generations, blind, stream_id)
        self.stream = PaneStream(self.props["panes"], stream_id)
        self.renderers = {side: StreamingMarkdown() for side in generations}
        self.final_html: dict[Side, str] = {}
        self.seen_text: set[Side] = set()

    def html(self, side: Side, generation: Generation) -> str:
        if side in self.final_html:
            return self.final_html[side]
        if generation.finished:
            self.final_html[side] = self.renderers[side].finish(generation.text)
            return self.final_html[side]
        return self.renderers[side].update(generation.text)

    def current(self, blind: bool) -> dict[str, Any]:
        generations = self.run.turn.generations
        html = {side: self.html(side, g) for side, g in generations.items()}
        return duel_props(generations, blind, live_contexts(self.run.turn), html=html)

    def chars(self, event: SideEvent) -> int | None:
        """What the throttle is told: the new characters, or None for a change to show soon
        (the end of an answer, an error, a pane's first text)."""
        kind = event.event.kind
        if kind not in ("text", "reasoning"):
            return None
        if event.side not in self.seen_text:
            self.seen_text.add(event.side)
            return None
        return len(getattr(event.event, "text", "") or "")


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
    live = LivePanes(run, duel.blind)
    streams = session_streams()
    streams[live.stream.stream_id] = live.stream
    for old in list(streams)[:-KEPT_STREAMS]:
        del streams[old]
    element = cl.CustomElement(name="SideBySide", props=live.props, display="inline")
    message = cl.Message(content="", author="Arena", elements=[element])
    await message.send()
    run.message_id = message.id

    async def redraw() -> None:
        props = live.current(duel.blind)
        # Kept here, not sent: the element's props stay the first ones in the browser.
        element.props = {**props, "streamId": live.stream.stream_id}
        await send_delta(live.stream, props["panes"])

    throttle = RedrawThrottle(redraw)
    try:
        await run.play(on_event=lambda event: throttle.changed(live.chars(event)), on_streamed=throttle.close,
                       on_prepared=throttle.changed)
    finally:
        if run.stored is not None:
            turn_id = run.stored.id
            assert turn_id is not None
            rating = cl.CustomElement(name="RatingPanel", props=rating_panel_props(turn_id), display="inline")
            shown_elements()[turn_id] = {"panes": element, "rating": rating, "stream": live.stream}

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
    # A gold item's answers are never named: "(gold answer a)" would tell the rater which items
    # check them, and the queue mixes gold in unmarked.
    names = None if stored.gold else {"a": stored.model_a, "b": stored.model_b}
    acknowledged = say("rating.updated" if stored.changed else "rating.saved")
    if shown:
        shown["rating"].props = rating_panel_props(
            stored.turn_id, saved=stored.saved, revealed=names, message=acknowledged, checks=stored.checks,
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
            props = duel_props(records, blind=False, contexts=stored_contexts(responses))
            stream: PaneStream | None = shown.get("stream")
            if stream is not None:  # streamed in this session: only the names are new
                shown["panes"].props = {**props, "streamId": stream.stream_id}
                await send_delta(stream, props["panes"])
            else:
                shown["panes"].props = props
                await push(shown["panes"])
