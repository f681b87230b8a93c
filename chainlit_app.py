"""Chainlit hooks only: the library in playground/ does the work.

Run with ``chainlit run chainlit_app.py``; the config comes from ``PLAYGROUND_CONFIG`` (default
``playground.yaml``).
"""

from __future__ import annotations

import asyncio
import json
import sys

import chainlit as cl
from chainlit.logger import logger
from chainlit.input_widget import Slider, TextInput

from playground.arena import Duel, TurnSettings
from playground.backends.local_transformers import TransformersBackend
from playground.backends.registry import BackendPool
from playground.config import ConfigError, check_local_paths, load_config
from playground.panes import duel_props
from playground.throttle import RedrawThrottle

try:
    CONFIG = load_config()
    check_local_paths(CONFIG, [CONFIG.arena.model_a, CONFIG.arena.model_b])
except ConfigError as exc:
    # A broken config stops the app at startup with the file and field, not at the first prompt.
    sys.exit(f"playground: cannot start:\n{exc}")

# One pool per process: a local model's weights are loaded once and shared by every session.
POOL = BackendPool(CONFIG)
STOP_REDRAW_DELAY_S = 0.5


@cl.on_app_startup
async def preload_local_models() -> None:
    # Build both backends and load local weights before the server accepts connections (a few
    # seconds), so that the first prompt's TTFT measures the model, not imports and set-up.
    for name in {CONFIG.arena.model_a, CONFIG.arena.model_b}:
        backend = POOL.get(name)
        if isinstance(backend, TransformersBackend):
            await backend.load()


@cl.on_chat_start
async def start_chat() -> None:
    duel = Duel.from_config(CONFIG, POOL)
    cl.user_session.set("duel", duel)
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

    duel: Duel = cl.user_session.get("duel")
    settings: TurnSettings = cl.user_session.get("settings")
    turn = duel.start_turn(prompt, settings)
    element = cl.CustomElement(
        name="SideBySide", props=duel_props(turn.generations, duel.blind), display="inline"
    )
    await cl.Message(content="", author="Arena", elements=[element]).send()

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
        if any(g.status == "stopped" for g in turn.generations.values()):
            # Chainlit's frontend drops an element update that lands while it handles its own
            # Stop (seen in Chromium: the panes stayed "streaming"); send the final state again
            # once that is over. Not awaited: the stopped task should end now.
            asyncio.get_running_loop().call_later(
                STOP_REDRAW_DELAY_S, lambda: asyncio.ensure_future(redraw())
            )
