"""The app's guided flows, as Chainlit messages: stepping through a prompt set, the rating queue
and the leaderboard. The hooks that call them live in chainlit_app.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import chainlit as cl

from playground.ui.leaderboard import leaderboard
from playground.ui.panes import duel_props
from playground.evalsets.prompt_sets import PromptItem, PromptSetError, available_sets, load_prompt_set, prompts_dir
from playground.ui.rating_panel import rating_panel_props
from playground.store.database import Database
from playground.store.queue import next_for_rater, queue_progress, queued_turn

# run_turn(prompt, item, set name): one duel turn in the current conversation.
RunTurn = Callable[[str, PromptItem, str], Awaitable[None]]


def queue_scope(text: str) -> str | None:
    """A queue limited to one prompt set when its name is given, else every batch item."""
    return text if text in {p.stem for p in prompts_dir().glob("*.yaml")} else None


async def start_prompt_set(name: str, run_turn: RunTurn) -> None:
    try:
        prompt_set = load_prompt_set(name or "?")
    except PromptSetError:
        known = ", ".join(s.name for s in available_sets())
        await cl.Message(content=f"No prompt set {name!r}. Sets: {known}. Type e.g. `/set quick-20`.").send()
        return
    await run_set_item(prompt_set.name, 0, run_turn)


async def run_set_item(name: str, index: int, run_turn: RunTurn) -> None:
    """Show the item, run it as a duel turn (stored with its set, id and category), offer the next."""
    prompt_set = load_prompt_set(name)
    if index >= len(prompt_set.items):
        await cl.Message(content=f"That was the last of the {len(prompt_set.items)} items of {name}.").send()
        return
    item = prompt_set.items[index]
    document = f" (after a generated document of about {item.document.tokens:,} tokens)" if item.document else ""
    await cl.Message(
        content=f"**{name}** item {index + 1} of {len(prompt_set.items)} · `{item.id}` "
        f"({item.category}, {item.difficulty}){document}:\n\n{item.question}",
        author="Prompt set",
    ).send()
    await run_turn(item.chat()[-1]["content"], item, name)
    await cl.Message(
        content="", author="Prompt set",
        actions=[cl.Action(name="next_item", payload={"set": name, "index": index + 1},
                           label=f"Next item ({index + 2} of {len(prompt_set.items)})"
                           if index + 1 < len(prompt_set.items) else "Done: no more items")],
    ).send()


async def show_next_queue_item(db: Database, rater_id: int, overlap: int) -> None:
    """The next batch answer pair this rater should rate, blind, with the queue's progress."""
    queue = cl.user_session.get("queue") or {"set": None}
    turn_id = await next_for_rater(db, rater_id, queue["set"], overlap)
    progress = await queue_progress(db, rater_id, queue["set"], overlap)
    scope = queue["set"] or "all sets"
    status = (f"You rated {progress.rated_by_you} · {progress.fully_rated} of {progress.total} rated "
              f"by {overlap} rater{'s' if overlap > 1 else ''} ({scope})")
    if turn_id is None:
        await cl.Message(content=f"Nothing left for you in the queue. {status}.", author="Queue").send()
        return
    turn, records = await queued_turn(db, turn_id)
    question = turn.prompt if len(turn.prompt) <= 2000 else "… " + turn.prompt[-1000:]  # type: ignore[union-attr]
    panes = cl.CustomElement(name="SideBySide", props=duel_props(records, blind=True), display="inline")
    message = cl.Message(
        content=f"**Queue** · {turn.prompt_set} · `{turn.item_id}` · {status}\n\n{question}",  # type: ignore[union-attr]
        author="Queue", elements=[panes],
    )
    await message.send()
    rating = cl.CustomElement(name="RatingPanel", props=rating_panel_props(turn_id), display="inline")
    await rating.send(for_id=message.id)
    cl.user_session.get("elements")[turn_id] = {"panes": panes, "rating": rating, "queue": True, "records": records}


async def show_leaderboard(db: Database) -> None:
    user = cl.user_session.get("user")
    admin = bool(user and user.metadata.get("admin"))
    text, plots = await leaderboard(db, admin=admin)
    images = [cl.Image(name=title, content=png, mime="image/png", display="inline") for title, png in plots.items()]
    await cl.Message(content=text, author="Leaderboard", elements=images).send()
