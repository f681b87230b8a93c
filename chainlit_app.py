"""Chainlit hooks only: the library in playground/ does the work (playground/ui/ shows it).

Run with ``playground up`` (or ``chainlit run chainlit_app.py``); the config comes from
``PLAYGROUND_CONFIG`` (default ``playground.yaml``), the database from ``PLAYGROUND_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import chainlit as cl
from chainlit.types import ThreadDict

from playground.arena.lifecycle import TurnInput
from playground.backends.local_transformers import TransformersBackend
from playground.backends.openai_compatible import OpenAICompatibleBackend
from playground.backends.registry import BackendPool
from playground.backends.worker_transformers import WorkerTransformersBackend
from playground.core.config import ConfigError, check_local_paths, load_config
from playground.core.gc_pauses import freeze_startup_objects
from playground.evalsets.prompt_sets import PromptSetError, available_sets
from playground.store.database import Database, DatabaseError
from playground.store.migrate import check_at_head
from playground.store.raters import authenticate
from playground.ui import attachments, duel_flow, flows, session
from playground.ui.context import AppContext
from playground.ui.data_layer import PlaygroundDataLayer
from playground.ui.health import install_health
from playground.ui.i18n import text
from playground.ui.language import language_for, say
from playground.ui.origins import restrict_socket_origins
from playground.ui.replica import install_replica


async def _check_database() -> None:
    probe = Database.from_env()  # its own engine: this event loop ends with the check
    try:
        await check_at_head(probe)
    finally:
        await probe.dispose()


try:
    REPLICA = install_replica()  # the X-Playground-Replica header, and the replica in log lines
except ValueError as exc:
    sys.exit(f"playground: cannot start: PLAYGROUND_REPLICA: {exc}")

try:
    CONFIG = load_config()
    check_local_paths(CONFIG, CONFIG.arena.model_names())
    asyncio.run(_check_database())
except (ConfigError, DatabaseError, RuntimeError) as exc:
    # A broken config or database stops the app at startup, saying what and where.
    sys.exit(f"playground: cannot start:\n{exc}")
except OSError as exc:
    sys.exit(f"playground: cannot start: the database cannot be opened: {exc}")

restrict_socket_origins()  # the socket, like HTTP, serves the app's own page unless configured
APP = AppContext(config=CONFIG, db=Database.from_env(), pool=BackendPool(CONFIG))
install_health(APP, REPLICA)  # GET /healthz: the database and the arena's models


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    """A new chat offers the queue, the shipped prompt sets and the leaderboard (labelled in the
    browser's language, which Chainlit passes here)."""
    lang = language_for(language)
    offered = [cl.Starter(label=text(lang, "starter.queue"), message="/queue")]
    try:
        sets = available_sets()
    except PromptSetError:
        sets = []
    offered += [cl.Starter(label=text(lang, "starter.set", name=s.name), message=f"/set {s.name}") for s in sets[:3]]
    offered.append(cl.Starter(label=text(lang, "starter.leaderboard"), message="/leaderboard"))
    return offered


@cl.on_app_startup
async def preload_local_models() -> None:
    APP.loop_lag.start()  # sampled on the server's own loop, reported by /healthz
    APP.gc_pauses.install()
    APP.timers.start()
    # Build both backends and load local weights before the server accepts connections (a few
    # seconds), so that the first prompt's TTFT measures the model, not imports and set-up.
    for name in CONFIG.arena.model_names():
        backend = APP.pool.get(name)
        if isinstance(backend, (TransformersBackend, WorkerTransformersBackend)):
            await backend.load()  # a worker process: started and its model loaded now
        elif isinstance(backend, OpenAICompatibleBackend):
            await backend.warm_up()  # its fallback tokenizer: not read on a rater's first turn
    # Everything made so far (imports, config, backends, tokenizers) lives as long as the process:
    # out of the collector's sight, a full collection no longer stops every session for 100 ms.
    freeze_startup_objects()


@cl.data_layer
def data_layer() -> PlaygroundDataLayer:
    # The sidebar history and resume; on the same database as the ratings.
    return PlaygroundDataLayer(APP.db)


@cl.password_auth_callback
async def login(username: str, password: str) -> cl.User | None:
    rater = await authenticate(APP.db, username, password)
    if rater is None:
        return None
    return cl.User(identifier=rater.name, metadata={"rater_id": rater.id, "admin": rater.is_admin})


@cl.on_chat_start
async def start_chat() -> None:
    await session.start_chat(APP)


@cl.on_chat_resume
async def resume_chat(thread: ThreadDict) -> None:
    await session.resume_chat(APP, thread)


@cl.on_window_message
async def window_message(message: Any) -> None:
    # The only use so far: a browser that missed a pane update asks for the panes' whole state.
    await duel_flow.pane_sync(message)


@cl.on_settings_update
async def update_settings(values: dict[str, Any]) -> None:
    session.update_settings(values)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    prompt = message.content.strip()
    word, _, rest = prompt.partition(" ")
    command = session.command_of(message.command)  # a command button's name, in the rater's language
    if command == session.LEADERBOARD or prompt.lower() == "/leaderboard":
        await flows.show_leaderboard(APP)
        return
    if command == session.QUEUE or word.lower() == "/queue":
        name = prompt if command == session.QUEUE else rest.strip()
        cl.user_session.set("queue", {"set": flows.queue_scope(name)})
        await flows.show_next_queue_item(APP, duel_flow.current_rater_id())
        return
    if command == session.NEEDLE or word.lower() == "/needle":
        await flows.run_needle_sweep(APP, prompt if command == session.NEEDLE else rest.strip())
        return
    if command == session.PROMPT_SET or word.lower() == "/set":
        await flows.start_prompt_set(APP, prompt if command == session.PROMPT_SET else rest.strip())
        return
    received = await attachments.receive(APP, message)
    if received is None:  # a file was refused: the rater was told why, nothing is sent
        return
    attached_now, prompt = received
    if not prompt:
        if not attached_now:
            await cl.Message(content=say("chat.empty")).send()
        return  # documents attached: the next message asks about them
    limit = CONFIG.arena.max_prompt_chars
    if len(prompt) > limit:
        await cl.Message(content=say("chat.too_long", chars=f"{len(prompt):,}", limit=f"{limit:,}",
                                     source=CONFIG.source)).send()
        return
    await duel_flow.run_turn(APP, TurnInput(prompt, documents=tuple(attachments.attached())))


@cl.action_callback("next_item")
async def next_item(action: cl.Action) -> None:
    payload = action.payload if isinstance(action.payload, dict) else {}
    await action.remove()
    await flows.run_set_item(APP, payload.get("set"), payload.get("index"))


@cl.action_callback("rate")
async def rate(action: cl.Action) -> dict[str, Any]:
    return await duel_flow.rate(APP, action.payload)

