"""Batch items in the database, and the rating queue that hands them to raters.

A batch item is a one-turn conversation of kind "batch", owned by the system account
BATCH_RATER (it cannot log in: its hash is not an Argon2 hash). The queue hands each rater the
next complete batch turn they have not been handed yet, as long as fewer than ``overlap`` raters
have it: those who voted on it, or were handed it within HOLD (so that an item a rater opened
and left is offered to someone else later).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, exists, func, or_
from sqlmodel import col, select

from playground.core.generation import GenerationRecord
from playground.core.vocabulary import Side
from playground.store.database import Database
from playground.store.records import ensure_conversation, save_turn
from playground.store.tables import Assignment, Conversation, Rater, Response, Turn, Vote, utcnow

BATCH_RATER = "(batch)"  # not a valid rater name: nobody can add or log in as it
HOLD = timedelta(minutes=30)


async def batch_rater_id(db: Database) -> int:
    async with db.transaction() as session:
        rater = (await session.exec(select(Rater).where(Rater.name == BATCH_RATER))).first()
        if rater is None:
            rater = Rater(name=BATCH_RATER, password_hash="!system account: no login")
            session.add(rater)
            await session.flush()
        assert rater.id is not None  # given by the flush
        return rater.id


def _complete() -> ColumnElement[bool]:
    """Both answers of the turn ended normally."""
    return (
        select(func.count(col(Response.id)))
        .where(col(Response.turn_id) == col(Turn.id), col(Response.status) == "done")
        .scalar_subquery()
        == 2
    )


async def done_items(db: Database, prompt_set: str, models: tuple[str, str]) -> set[str]:
    """Items of ``prompt_set`` already answered completely by these two models (either side)."""
    pair = or_(
        and_(col(Conversation.model_a) == models[0], col(Conversation.model_b) == models[1]),
        and_(col(Conversation.model_a) == models[1], col(Conversation.model_b) == models[0]),
    )
    query = (
        select(col(Turn.item_id))
        .join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
        .where(col(Conversation.kind) == "batch", col(Turn.prompt_set) == prompt_set, pair, _complete())
    )
    async with db.sessions() as session:
        return {item for item in (await session.exec(query)).all() if item is not None}


async def store_batch_turn(
    db: Database, rater_id: int, *, prompt_set: str, item_id: str, category: str, prompt: str,
    system_prompt: str, settings: dict[str, Any], records: Mapping[Side, GenerationRecord],
    sampling: Mapping[Side, dict[str, Any]],
) -> Turn:
    conversation_id = f"batch-{uuid.uuid4()}"
    await ensure_conversation(
        db, conversation_id, rater_id, blind=True, kind="batch",
        model_a=records["a"].model, model_b=records["b"].model,
    )
    return await save_turn(
        db, conversation_id, prompt=prompt, system_prompt=system_prompt, settings=settings,
        records=records, sampling=sampling, message_id=None, category=category,
        prompt_set=prompt_set, item_id=item_id,
    )


@dataclass(frozen=True)
class QueueProgress:
    rated_by_you: int  # batch turns of this set you voted on
    fully_rated: int  # turns with ``overlap`` votes or more
    total: int  # complete batch turns in the set


def _in_set(prompt_set: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Conversation.kind) == "batch", _complete()]
    if prompt_set:
        conditions.append(col(Turn.prompt_set) == prompt_set)
    return conditions


async def next_for_rater(db: Database, rater_id: int, prompt_set: str | None, overlap: int) -> int | None:
    """The id of the turn to show this rater next (now assigned to them), or None when the
    queue has nothing left for them."""
    if overlap < 1:
        raise ValueError("overlap must be at least 1")
    now = utcnow()
    voted = exists().where(col(Vote.turn_id) == col(Assignment.turn_id), col(Vote.rater_id) == col(Assignment.rater_id))
    holding = (
        select(func.count(col(Assignment.id)))
        .where(col(Assignment.turn_id) == col(Turn.id), or_(col(Assignment.assigned_at) > now - HOLD, voted))
        .scalar_subquery()
    )
    mine = exists().where(col(Assignment.turn_id) == col(Turn.id), col(Assignment.rater_id) == rater_id)
    my_vote = exists().where(col(Vote.turn_id) == col(Turn.id), col(Vote.rater_id) == rater_id)
    async with db.transaction() as session:
        # An item handed over earlier and not voted on yet comes first: the rater left it open.
        pending = (await session.exec(
            select(col(Turn.id)).join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
            .where(*_in_set(prompt_set), mine, ~my_vote).order_by(col(Turn.id)).limit(1)
        )).first()
        if pending is not None:
            return pending
        candidates = (await session.exec(
            select(col(Turn.id)).join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
            .where(*_in_set(prompt_set), ~mine, holding < overlap).order_by(col(Turn.id)).limit(20)
        )).all()
        for turn_id in candidates:
            if turn_id is None:  # a primary key: never, but the column's type allows it
                continue
            if db.dialect == "postgresql":
                # Two raters asking at once: lock the turn, then count again (SQLite's
                # BEGIN IMMEDIATE already serializes whole transactions).
                await session.exec(select(col(Turn.id)).where(col(Turn.id) == turn_id).with_for_update())
                taken = (await session.exec(
                    select(func.count(col(Assignment.id))).where(
                        col(Assignment.turn_id) == turn_id,
                        or_(col(Assignment.assigned_at) > now - HOLD,
                            exists().where(col(Vote.turn_id) == turn_id,
                                           col(Vote.rater_id) == col(Assignment.rater_id))),
                    )
                )).one()
                if taken >= overlap:
                    continue
            session.add(Assignment(turn_id=turn_id, rater_id=rater_id, assigned_at=now))
            return turn_id
    return None


async def queue_progress(db: Database, rater_id: int, prompt_set: str | None, overlap: int) -> QueueProgress:
    votes = select(func.count(col(Vote.id))).where(col(Vote.turn_id) == col(Turn.id)).scalar_subquery()
    my_vote = exists().where(col(Vote.turn_id) == col(Turn.id), col(Vote.rater_id) == rater_id)
    base = select(func.count(col(Turn.id))).join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
    async with db.sessions() as session:
        total = (await session.exec(base.where(*_in_set(prompt_set)))).one()
        fully = (await session.exec(base.where(*_in_set(prompt_set), votes >= overlap))).one()
        mine = (await session.exec(base.where(*_in_set(prompt_set), my_vote))).one()
    return QueueProgress(rated_by_you=mine, fully_rated=fully, total=total)


async def queued_turn(db: Database, turn_id: int) -> tuple[Turn, dict[Side, Response]]:
    """A batch turn and its two stored answers (to draw its panes)."""
    async with db.sessions() as session:
        turn = await session.get(Turn, turn_id)
        responses = (await session.exec(select(Response).where(col(Response.turn_id) == turn_id))).all()
    if turn is None:
        raise LookupError(f"no turn {turn_id}")
    return turn, {cast(Side, r.side): r for r in responses}
