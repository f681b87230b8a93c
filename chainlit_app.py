"""Chainlit hooks only: the library in playground/ does the work.

Run with ``chainlit run chainlit_app.py``; the config comes from ``PLAYGROUND_CONFIG`` (default
``playground.yaml``).
"""

from __future__ import annotations

import asyncio
import json
import sys

import chainlit as cl
from chainlit.input_widget import Slider, TextInput
from chainlit.logger import logger
from chainlit.types import ThreadDict

from playground.arena.duel import Duel, TurnSettings
from playground.backends.local_transformers import TransformersBackend
from playground.backends.registry import BackendPool
from playground.ui.flows import (
    queue_scope,
    run_set_item,
    show_leaderboard,
    show_next_queue_item,
    start_prompt_set,
)
from playground.core.config import ConfigError, check_local_paths, load_config
from playground.ui.panes import duel_props
from playground.evalsets.prompt_sets import PromptItem, PromptSetError, available_sets
from playground.ui.rating_panel import rating_panel_props
from playground.ui.data_layer import PlaygroundDataLayer, element_id
from playground.store.database import Database, DatabaseError
from playground.store.migrate import check_at_head
from playground.store.raters import authenticate
from playground.store.ratings import RatingRefused, ratings_of_turn, submit_rating
from playground.store.records import ensure_conversation, load_conversation, record_of, save_turn
from playground.ui.throttle import RedrawThrottle
from playground.ui.turn_checks import turn_checks


async def _check_database() -> None:
    probe = Database.from_env()  # its own engine: this event loop ends with the check
    try:
        await check_at_head(probe)
    finally:
        await probe.dispose()


try:
    CONFIG = load_config()
    check_local_paths(CONFIG, [CONFIG.arena.model_a, CONFIG.arena.model_b])
    asyncio.run(_check_database())
except (ConfigError, DatabaseError, RuntimeError) as exc:
    # A broken config or database stops the app at startup, saying what and where.
    sys.exit(f"playground: cannot start:\n{exc}")
except OSError as exc:
    sys.exit(f"playground: cannot start: the database cannot be opened: {exc}")

DB = Database.from_env()

# One pool per process: a local model's weights are loaded once and shared by every session.
POOL = BackendPool(CONFIG)
STOP_REDRAW_DELAY_S = 0.5
LEADERBOARD, QUEUE, PROMPT_SET = "Leaderboard", "Queue", "PromptSet"
COMMANDS = [
    {"id": LEADERBOARD, "icon": "trophy", "description": "Show the leaderboard of all blind votes",
     "button": True, "persistent": False},
    {"id": QUEUE, "icon": "list-checks", "description": "Rate batch answers, blind (type a set name, or anything for all)",
     "button": True, "persistent": False},
    {"id": PROMPT_SET, "icon": "list-ordered", "description": "Step through a prompt set (type its name)",
     "button": True, "persistent": False},
]


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """A new chat offers the queue, the shipped prompt sets and the leaderboard."""
    offered = [cl.Starter(label="Rate the queue", message="/queue")]
    try:
        sets = available_sets()
    except PromptSetError:
        sets = []
    offered += [cl.Starter(label=f"Step through {s.name}", message=f"/set {s.name}") for s in sets[:3]]
    offered.append(cl.Starter(label="Leaderboard", message="/leaderboard"))
    return offered


@cl.on_app_startup
async def preload_local_models() -> None:
    # Build both backends and load local weights before the server accepts connections (a few
    # seconds), so that the first prompt's TTFT measures the model, not imports and set-up.
    for name in {CONFIG.arena.model_a, CONFIG.arena.model_b}:
        backend = POOL.get(name)
        if isinstance(backend, TransformersBackend):
            await backend.load()


@cl.data_layer
def data_layer() -> PlaygroundDataLayer:
    # The sidebar history and resume; on the same database as the ratings.
    return PlaygroundDataLayer(DB)


@cl.password_auth_callback
async def login(username: str, password: str) -> cl.User | None:
    rater = await authenticate(DB, username, password)
    if rater is None:
        return None
    return cl.User(identifier=rater.name, metadata={"rater_id": rater.id, "admin": rater.is_admin})


def current_rater_id() -> int:
    user = cl.user_session.get("user")
    return int(user.metadata["rater_id"])


@cl.on_chat_start
async def start_chat() -> None:
    duel = Duel.from_config(CONFIG, POOL)
    cl.user_session.set("duel", duel)
    cl.user_session.set("elements", {})  # turn id -> {"panes": element, "rating": element}
    await send_settings_panel()


@cl.on_chat_resume
async def resume_chat(thread: ThreadDict) -> None:
    """Reopened from the sidebar: the same seats, each side's history, the elements to update."""
    cl.user_session.set("elements", {})
    loaded = await load_conversation(DB, thread["id"])
    if loaded is None:  # a thread without turns: start afresh
        cl.user_session.set("duel", Duel.from_config(CONFIG, POOL))
        await send_settings_panel()
        return
    conversation, turns = loaded
    missing = [m for m in (conversation.model_a, conversation.model_b) if m not in CONFIG.model_names()]
    if missing:
        cl.user_session.set("duel", None)
        await cl.Message(
            content=f"{', '.join(missing)} is no longer in {CONFIG.source}: this conversation "
            "can be read and rated but not continued."
        ).send()
    else:
        blind = conversation.mode == "blind" and conversation.revealed_at is None
        duel = Duel.seated(CONFIG, POOL, conversation.model_a, conversation.model_b, blind)
        for turn, responses in turns:
            for side, contender in duel.contenders.items():
                contender.history.append({"role": "user", "content": turn.prompt})
                answer = responses[side].text if side in responses else ""
                contender.history.append({"role": "assistant", "content": answer})
        cl.user_session.set("duel", duel)
    elements = cl.user_session.get("elements")
    for turn, _ in turns:
        if turn.message_id is not None:
            elements[turn.id] = {
                kind: cl.CustomElement(id=element_id(kind, turn.id), name=name, props={}, display="inline", for_id=turn.message_id)
                for kind, name in (("panes", "SideBySide"), ("rating", "RatingPanel"))
            }
    await send_settings_panel()


async def send_settings_panel() -> None:
    await cl.context.emitter.set_commands(COMMANDS)
    cl.user_session.set("settings", TurnSettings(system_prompt=CONFIG.arena.system_prompt))
    defaults = CONFIG.model(CONFIG.arena.model_a).defaults
    await cl.ChatSettings(
        [
            Slider(
                id="temperature",
                label="Temperature",
                initial=defaults.temperature,
                min=0.0,
                max=2.0,
                step=0.05,
            ),
            Slider(
                id="max_tokens",
                label="Max tokens",
                initial=defaults.max_tokens,
                min=16,
                max=8192,
                step=16,
            ),
            TextInput(
                id="system_prompt",
                label="System prompt",
                initial=CONFIG.arena.system_prompt,
                multiline=True,
            ),
        ]
    ).send()


@cl.on_settings_update
async def update_settings(values: dict) -> None:
    cl.user_session.set(
        "settings",
        TurnSettings(
            temperature=float(values["temperature"]),
            max_tokens=int(values["max_tokens"]),
            system_prompt=str(values.get("system_prompt") or ""),
        ),
    )


@cl.on_message
async def duel_turn(message: cl.Message) -> None:
    prompt = message.content.strip()
    word, _, rest = prompt.partition(" ")
    if message.command == LEADERBOARD or prompt.lower() == "/leaderboard":
        await show_leaderboard(DB)
        return
    if message.command == QUEUE or word.lower() == "/queue":
        name = prompt if message.command == QUEUE else rest.strip()
        cl.user_session.set("queue", {"set": queue_scope(name)})
        await show_next_queue_item(DB, current_rater_id(), CONFIG.arena.queue_overlap)
        return
    if message.command == PROMPT_SET or word.lower() == "/set":
        await start_prompt_set(prompt if message.command == PROMPT_SET else rest.strip(), run_turn)
        return
    if not prompt:
        await cl.Message(content="Type a prompt first: nothing was sent to the models.").send()
        return
    limit = CONFIG.arena.max_prompt_chars
    if len(prompt) > limit:
        await cl.Message(
            content=(
                f"This prompt is {len(prompt):,} characters; the limit is {limit:,} "
                f"(arena.max_prompt_chars in {CONFIG.source}). Nothing was sent."
            )
        ).send()
        return

    await run_turn(prompt)


async def run_turn(prompt: str, item: PromptItem | None = None, set_name: str | None = None) -> None:
    """One duel turn in this conversation: both answers streamed, stored, then the rating panel."""
    duel: Duel | None = cl.user_session.get("duel")
    if duel is None:
        await cl.Message(content="This conversation cannot be continued: start a new one.").send()
        return
    settings: TurnSettings = cl.user_session.get("settings")
    if item is not None:
        # A prompt-set item is a question of its own: no earlier answers, its own system prompt.
        for contender in duel.contenders.values():
            contender.history.clear()
        if item.system_prompt:
            settings = TurnSettings(settings.temperature, settings.max_tokens, item.system_prompt)
    conversation_id = cl.context.session.thread_id
    await ensure_conversation(
        DB, conversation_id, current_rater_id(), blind=duel.blind,
        model_a=duel.contenders["a"].model, model_b=duel.contenders["b"].model,
    )
    turn = duel.start_turn(prompt, settings)
    element = cl.CustomElement(
        name="SideBySide", props=duel_props(turn.generations, duel.blind), display="inline"
    )
    message = cl.Message(content="", author="Arena", elements=[element])
    await message.send()

    async def redraw() -> None:
        element.props = duel_props(turn.generations, duel.blind)
        element.content = json.dumps(element.props)
        await element.update()

    throttle = RedrawThrottle(redraw)
    try:
        async for _ in turn.stream():
            throttle.changed()
    finally:
        # Also after Stop (a cancelled task): the panes end as "stopped" with their partial text.
        await throttle.close()
        for record in turn.records().values():
            logger.info(
                "turn side %s (%s): %s, ttft %s s, %s tokens, %s tok/s%s",
                record.side, record.model, record.status,
                f"{record.ttft_s:.3f}" if record.ttft_s is not None else "-",
                record.output_tokens,
                f"{record.tokens_per_s:.1f}" if record.tokens_per_s else "-",
                f", error: {record.error}" if record.error else "",
            )
        # Stored even after Stop (shielded: the task is being cancelled), before the panel that
        # rates it is shown.
        stored = await asyncio.shield(save_turn(
            DB, conversation_id, prompt=prompt, system_prompt=settings.system_prompt,
            settings={"temperature": settings.temperature, "max_tokens": settings.max_tokens},
            records=turn.records(),
            sampling={side: _sampling_dict(turn, side) for side in turn.generations},
            message_id=message.id,
            category=item.category if item else None, prompt_set=set_name, item_id=item.id if item else None,
        ))
        rating = cl.CustomElement(
            name="RatingPanel", props=rating_panel_props(stored.id), display="inline"  # type: ignore[arg-type]
        )
        cl.user_session.get("elements")[stored.id] = {"panes": element, "rating": rating}

        async def show_final() -> None:
            await redraw()
            await rating.send(for_id=message.id)

        if any(g.status == "stopped" for g in turn.generations.values()):
            # Chainlit's frontend drops element updates that land while it handles its own
            # Stop (seen in Chromium: the panes stayed "streaming"); send the final state
            # once that is over. Not awaited: the stopped task should end now.
            asyncio.get_running_loop().call_later(
                STOP_REDRAW_DELAY_S, lambda: asyncio.ensure_future(show_final())
            )
        else:
            await rating.send(for_id=message.id)


@cl.action_callback("next_item")
async def next_item(action: cl.Action) -> None:
    payload = action.payload if isinstance(action.payload, dict) else {}
    name, index = payload.get("set"), payload.get("index")
    if isinstance(name, str) and isinstance(index, int):
        await action.remove()
        await run_set_item(name, index, run_turn)


def _sampling_dict(turn, side: str) -> dict:
    contender = turn.duel.contenders[side]
    params = turn.settings.sampling_for(contender.defaults)
    return {
        "temperature": params.temperature, "top_p": params.top_p, "max_tokens": params.max_tokens,
        "chat_template_kwargs": params.chat_template_kwargs,
    }


@cl.action_callback("rate")
async def rate(action: cl.Action) -> dict:
    """The rating panel's submit: checked and committed before the rater sees "Saved"."""
    payload = action.payload
    elements = cl.user_session.get("elements") or {}
    turn_id = payload.get("turn_id") if isinstance(payload, dict) else None
    shown = elements.get(turn_id) if isinstance(turn_id, int) else None
    try:
        stored = await submit_rating(DB, current_rater_id(), payload)
    except RatingRefused as exc:
        if shown:
            shown["rating"].props = {**rating_panel_props(turn_id), "error": str(exc)}  # type: ignore[arg-type]
            await _push(shown["rating"])
        return {"ok": False, "message": str(exc)}
    saved = await ratings_of_turn(DB, stored.turn_id, current_rater_id())
    names = {"a": stored.model_a, "b": stored.model_b}
    acknowledged = "Updated." if stored.changed else "Saved."
    if shown:
        shown["rating"].props = rating_panel_props(
            stored.turn_id, saved=saved, revealed=names, message=acknowledged,
            checks=await turn_checks(DB, stored.turn_id),
        )
        await _push(shown["rating"])
    if shown and shown.get("queue"):
        # A queue item: reveal its own panes only, then hand over the next one.
        shown["panes"].props = duel_props(shown["records"], blind=False)
        await _push(shown["panes"])
        if not stored.changed:
            await show_next_queue_item(DB, current_rater_id(), CONFIG.arena.queue_overlap)
        return {"ok": True, "message": acknowledged}
    duel: Duel | None = cl.user_session.get("duel")
    if duel is not None and duel.blind:
        duel.blind = False  # the names are known now; later turns are shown (and stored) named
        await _reveal_panes(cl.context.session.thread_id, elements)
    return {"ok": True, "message": acknowledged}


async def _push(element: cl.CustomElement) -> None:
    element.content = json.dumps(element.props)
    await element.update()


async def _reveal_panes(conversation_id: str, elements: dict) -> None:
    loaded = await load_conversation(DB, conversation_id)
    if loaded is None:
        return
    for turn, responses in loaded[1]:
        shown = elements.get(turn.id)
        if shown and set(responses) == {"a", "b"}:
            records = {side: record_of(responses[side]) for side in ("a", "b")}
            shown["panes"].props = duel_props(records, blind=False)
            await _push(shown["panes"])
