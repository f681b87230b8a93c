"""A chat session's seats and settings: a new chat, a chat reopened from the sidebar, the
settings panel."""

from __future__ import annotations

import random
from typing import Any

import chainlit as cl
from chainlit.input_widget import Select, Slider, TextInput
from chainlit.types import CommandDict, ThreadDict

from playground.arena.duel import Duel, TurnSettings
from playground.core.vocabulary import SIDES, TRUNCATION_POLICIES, Side, TruncationPolicy
from playground.stats.pair_sampling import arena_pair_distribution
from playground.store.records import load_conversation, names_hidden
from playground.ui import attachments
from playground.ui.context import AppContext
from playground.ui.data_layer import element_id
from playground.ui.i18n import LANGUAGES, text
from playground.ui.language import say

LEADERBOARD, QUEUE, PROMPT_SET, NEEDLE = "Leaderboard", "Queue", "PromptSet", "Needle"
COMMANDS: list[CommandDict] = [
    {"id": LEADERBOARD, "icon": "trophy", "description": "Show the leaderboard of all blind votes",
     "button": True, "persistent": False, "selected": False},
    {"id": QUEUE, "icon": "list-checks",
     "description": "Rate batch answers, blind (type a set name, or anything for all)",
     "button": True, "persistent": False, "selected": False},
    {"id": PROMPT_SET, "icon": "list-ordered", "description": "Step through a prompt set (type its name)",
     "button": True, "persistent": False, "selected": False},
    {"id": NEEDLE, "icon": "search",
     "description": "Needle in a haystack (type lengths and depths, e.g. 512,1k 0,50,100)",
     "button": True, "persistent": False, "selected": False},
]


async def new_duel(app: AppContext) -> Duel:
    """A new conversation's duel: its pair drawn by the arena's policy (adaptive: from the votes
    stored so far), its sides then drawn at random; the pair's policy and probability are stored
    with the conversation on its first turn."""
    distribution = await arena_pair_distribution(app.db, app.config)
    rng = random.Random()
    return Duel.from_config(app.config, app.pool, rng, pair=distribution.draw(rng))


async def start_chat(app: AppContext) -> None:
    cl.user_session.set("duel", await new_duel(app))
    cl.user_session.set("elements", {})  # turn id -> {"panes": element, "rating": element}
    cl.user_session.set(attachments.SESSION_KEY, [])
    await send_settings_panel(app)


async def resume_chat(app: AppContext, thread: ThreadDict) -> None:
    """Reopened from the sidebar: the same seats, each side's history, the elements to update."""
    cl.user_session.set("elements", {})
    await attachments.reload_attached(app, thread["id"])
    loaded = await load_conversation(app.db, thread["id"])
    if loaded is None:  # a thread without turns: start afresh
        cl.user_session.set("duel", await new_duel(app))
        await send_settings_panel(app)
        return
    conversation, turns = loaded
    missing = [m for m in (conversation.model_a, conversation.model_b) if m not in app.config.model_names()]
    if missing:
        cl.user_session.set("duel", None)
        await cl.Message(content=say("chat.models_gone", models=", ".join(missing), source=app.config.source)).send()
    else:
        duel = Duel.seated(app.config, app.pool, conversation.model_a, conversation.model_b,
                           names_hidden(conversation))
        for turn, responses in turns:
            for side, contender in duel.contenders.items():
                contender.history.append({"role": "user", "content": turn.prompt})
                answer = responses[side].text if side in responses else ""
                contender.history.append({"role": "assistant", "content": answer})
        cl.user_session.set("duel", duel)
    elements = cl.user_session.get("elements")
    for turn, _ in turns:
        if turn.message_id is not None and turn.id is not None:
            elements[turn.id] = {
                kind: cl.CustomElement(id=element_id(kind, turn.id), name=name, props={}, display="inline",
                                       for_id=turn.message_id)
                for kind, name in (("panes", "SideBySide"), ("rating", "RatingPanel"))
            }
    await send_settings_panel(app)


# Chainlit shows a command's id on its button, and a message carries it: each command is named in
# the session's language (catalogue keys command_name.*, the English names being the ids above) and
# described (command.*); command_of() reads a name of either language back.
COMMAND_KEYS = {LEADERBOARD: "leaderboard", QUEUE: "queue", PROMPT_SET: "prompt_set", NEEDLE: "needle"}


def commands() -> list[CommandDict]:
    """The command buttons in this session's language."""
    return [{**command, "id": say(f"command_name.{COMMAND_KEYS[command['id']]}"),
             "description": say(f"command.{COMMAND_KEYS[command['id']]}")} for command in COMMANDS]


def command_of(name: str | None) -> str | None:
    """The command (LEADERBOARD, QUEUE, ...) that a message's command name stands for, else None."""
    for command, key in COMMAND_KEYS.items():
        if name in {text(language, f"command_name.{key}") for language in LANGUAGES}:
            return command
    return None


async def send_settings_panel(app: AppContext) -> None:
    config = app.config
    await cl.context.emitter.set_commands(commands())
    cl.user_session.set("settings", TurnSettings(system_prompt=config.arena.system_prompt))
    defaults = config.model(config.arena.model_a).defaults
    policies = seated_policies()
    cl.user_session.set("policies", policies)
    await cl.ChatSettings(
        [
            Slider(id="temperature", label=say("settings.temperature"), initial=defaults.temperature,
                   min=0.0, max=2.0, step=0.05),
            Slider(id="max_tokens", label=say("settings.max_tokens"), initial=defaults.max_tokens,
                   min=16, max=8192, step=16),
            TextInput(id="system_prompt", label=say("settings.system_prompt"), initial=config.arena.system_prompt,
                      multiline=True),
            # Blind: the panel names sides, never models (each side starts from its model's config).
            # Each policy labelled in the rater's language; the value is the stored word.
            *(Select(id=f"truncation_{side}", label=say("settings.truncation", side=side.upper()),
                     items={say(f"truncation.{p}"): p for p in TRUNCATION_POLICIES}, initial_value=policy)
              for side, policy in policies.items()),
        ]
    ).send()


def seated_policies() -> dict[Side, TruncationPolicy]:
    """Each side's truncation policy as configured for the model seated there."""
    duel: Duel | None = cl.user_session.get("duel")
    if duel is None:
        return {}
    return {side: duel.config_of(side).truncation for side in duel.contenders}


def update_settings(values: dict[str, Any]) -> None:
    policies = dict(cl.user_session.get("policies") or {})
    for side in SIDES:
        chosen = values.get(f"truncation_{side}")
        if chosen in TRUNCATION_POLICIES:  # what the browser sends is checked, never trusted
            policies[side] = chosen
    cl.user_session.set("policies", policies)
    cl.user_session.set(
        "settings",
        TurnSettings(
            temperature=float(values["temperature"]),
            max_tokens=int(values["max_tokens"]),
            system_prompt=str(values.get("system_prompt") or ""),
        ),
    )
