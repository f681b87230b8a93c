"""The automatic checks of a stored turn that came from a prompt set, for the rating panel."""

from __future__ import annotations

import functools

from sqlmodel import select

from playground.evalsets.checks import verdict
from playground.evalsets.prompt_sets import PromptItem, PromptSetError, load_prompt_set
from playground.store.database import Database
from playground.store.tables import Response, Turn


@functools.lru_cache(maxsize=64)
def _prompt_set(prompt_set: str):  # type: ignore[no-untyped-def]
    try:
        return load_prompt_set(prompt_set)
    except PromptSetError:
        return None


def prompt_item(prompt_set: str, item_id: str) -> PromptItem | None:
    """The item a stored turn came from, or None if its set was renamed or edited since."""
    loaded = _prompt_set(prompt_set)
    try:
        return loaded.item(item_id) if loaded is not None else None
    except KeyError:
        return None


async def turn_checks(db: Database, turn_id: int) -> dict[str, str] | None:
    """Per side, one line saying what the automatic checks found; None for a typed prompt."""
    async with db.sessions() as session:
        turn = await session.get(Turn, turn_id)
        if turn is None or turn.prompt_set is None or turn.item_id is None:
            return None
        responses = (await session.exec(select(Response).where(Response.turn_id == turn_id))).all()
    item = prompt_item(turn.prompt_set, turn.item_id)
    if item is None:
        return None
    lines = {r.side: verdict(r.text, item.references, item.constraints) for r in responses}
    return {side: line for side, line in lines.items() if line} or None
