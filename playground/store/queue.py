"""Batch items in the database, and the rating queue that hands them to raters.

A batch item is a one-turn conversation of kind "batch", owned by the system account
BATCH_RATER (it cannot log in: its hash is not an Argon2 hash). The queue hands each rater the
next complete batch turn they have not been handed yet, as long as fewer than ``overlap`` raters
have it: those who voted on it, or were handed it within HOLD (so that an item a rater opened
and left is offered to someone else later).

Gold items (``playground gold SET``) are batch turns too, with two fixed answers and
``Turn.gold_verdict`` set. They are not bound by the overlap: each rater may get each of them,
once. While a rater still has regular items and gold items left, each hand-out is a gold item
with probability ``gold_rate`` (the config's ``arena.gold_rate``); the panes look like any other
item's. The queue never hands a rater a turn whose prompt and pair of models they already voted
on elsewhere (ratings.py refuses that vote as a duplicate).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from playground.core.generation import GenerationRecord
from playground.core.vocabulary import A_WINS, B_WINS, SIDES, TIES, Side, Winner
from playground.store.database import Database
from playground.store.records import ensure_conversation, save_turn
from playground.store.tables import Assignment, Conversation, Rater, Response, Turn, Vote, utcnow

BATCH_RATER = "(batch)"  # not a valid rater name: nobody can add or log in as it
# The "models" of gold answers: parenthesised like BATCH_RATER, so no served model is named so,
# and the same for every gold item (the answers are written by people, not by a model).
GOLD_MODELS: dict[Side, str] = {"a": "(gold answer a)", "b": "(gold answer b)"}
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
    async with db.reading() as session:
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


_MIRRORED: dict[Winner, Winner] = {A_WINS: B_WINS, B_WINS: A_WINS, **{tie: tie for tie in TIES}}


async def store_gold_turn(
    db: Database, owner_id: int, *, prompt_set: str, item_id: str, category: str, prompt: str,
    system_prompt: str, answers: Mapping[Side, str], winner: Winner, swap: bool = False,
) -> Turn | None:
    """A gold item as a batch turn: the two answers as done responses of GOLD_MODELS and the
    expected verdict (for the sides as stored; ``swap`` puts answer a on the right and maps the
    verdict, so the better answer is not always where the set's author wrote it). None when the
    same gold item (set, item, answers and verdict) is stored already. One transaction."""
    if swap:
        answers = {"a": answers["b"], "b": answers["a"]}
        winner = _MIRRORED[winner]
    async with db.transaction() as session:
        stored = (await session.exec(
            select(Turn, Response).join(Response, col(Response.turn_id) == col(Turn.id))
            .where(col(Turn.prompt_set) == prompt_set, col(Turn.item_id) == item_id,
                   col(Turn.gold_verdict).is_not(None))
        )).all()
        by_turn: dict[int | None, dict[str, str]] = {}
        verdicts: dict[int | None, str | None] = {}
        for turn, response in stored:
            by_turn.setdefault(turn.id, {})[response.side] = response.text
            verdicts[turn.id] = turn.gold_verdict
        for turn_id, texts in by_turn.items():
            same = texts == dict(answers) and verdicts[turn_id] == winner
            mirrored = (texts == {"a": answers["b"], "b": answers["a"]}
                        and verdicts[turn_id] == _MIRRORED[winner])
            if same or mirrored:
                return None
        conversation = Conversation(id=f"gold-{uuid.uuid4()}", rater_id=owner_id, mode="blind", kind="batch",
                                    model_a=GOLD_MODELS["a"], model_b=GOLD_MODELS["b"])
        session.add(conversation)
        turn = Turn(conversation_id=conversation.id, position=0, prompt=prompt, system_prompt=system_prompt,
                    blind=True, category=category, prompt_set=prompt_set, item_id=item_id, gold_verdict=winner)
        session.add(turn)
        await session.flush()
        assert turn.id is not None  # given by the flush
        for side in SIDES:
            session.add(Response(turn_id=turn.id, side=side, model=GOLD_MODELS[side], text=answers[side],
                                 status="done", finish_reason="stop"))
    return turn


@dataclass(frozen=True)
class QueueProgress:
    rated_by_you: int  # batch turns of this set you voted on
    fully_rated: int  # turns with ``overlap`` votes or more
    total: int  # complete batch turns in the set


def _in_set(prompt_set: str | None, gold: bool = False) -> list[ColumnElement[bool]]:
    """Complete batch turns (of the set, when given): regular items, or the gold ones."""
    conditions: list[ColumnElement[bool]] = [
        col(Conversation.kind) == "batch", _complete(),
        col(Turn.gold_verdict).is_not(None) if gold else col(Turn.gold_verdict).is_(None),
    ]
    if prompt_set:
        conditions.append(col(Turn.prompt_set) == prompt_set)
    return conditions


def voted_same_prompt(rater_id: int, turn: Any = Turn, model_a: Any = Conversation.model_a,
                      model_b: Any = Conversation.model_b) -> ColumnElement[bool]:
    """SQL: this rater already voted on another turn with the same prompt (text, system prompt,
    both the first turn of their conversation) and the same two models, on either side. A
    condition on ``turn`` (a Turn of the enclosing query) and its pair ``model_a``/``model_b``."""
    other_vote, other_turn = aliased(Vote), aliased(Turn)
    return exists().where(
        col(other_vote.rater_id) == rater_id,
        col(other_turn.id) == col(other_vote.turn_id),
        col(other_turn.id) != col(turn.id),
        col(turn.position) == 0,
        col(other_turn.position) == 0,
        col(other_turn.prompt) == col(turn.prompt),
        col(other_turn.system_prompt) == col(turn.system_prompt),
        or_(and_(col(other_vote.model_a) == model_a, col(other_vote.model_b) == model_b),
            and_(col(other_vote.model_a) == model_b, col(other_vote.model_b) == model_a)),
    )


async def next_for_rater(
    db: Database, rater_id: int, prompt_set: str | None, overlap: int, *, gold_rate: float = 0.0,
    rng: random.Random | None = None,
) -> int | None:
    """The id of the turn to show this rater next (now assigned to them), or None when the
    queue has nothing left for them. With probability ``gold_rate`` (while the rater has regular
    items left) it is a gold item this rater has not been handed before."""
    if overlap < 1:
        raise ValueError("overlap must be at least 1")
    if not 0.0 <= gold_rate <= 1.0:
        raise ValueError("gold_rate must be between 0 and 1")
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
            .where(*_in_set(prompt_set), ~mine, holding < overlap, ~voted_same_prompt(rater_id))
            .order_by(col(Turn.id)).limit(20)
        )).all()
        if candidates and gold_rate > 0 and (rng or random).random() < gold_rate:
            golds = (await session.exec(
                select(col(Turn.id)).join(Conversation, col(Conversation.id) == col(Turn.conversation_id))
                .where(*_in_set(prompt_set, gold=True), ~mine).order_by(col(Turn.id))
            )).all()
            gold_ids = [gold for gold in golds if gold is not None]
            if gold_ids:
                gold_id = (rng or random).choice(gold_ids)
                session.add(Assignment(turn_id=gold_id, rater_id=rater_id, assigned_at=now))
                return gold_id
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
    # Gold items count for a rater once handed to them (as if they were regular items), so the
    # figures move the same way whichever kind of item was rated.
    handed = exists().where(col(Assignment.turn_id) == col(Turn.id), col(Assignment.rater_id) == rater_id)
    async with db.reading() as session:
        total = (await session.exec(base.where(*_in_set(prompt_set)))).one()
        total += (await session.exec(base.where(*_in_set(prompt_set, gold=True), handed))).one()
        fully = (await session.exec(base.where(*_in_set(prompt_set), votes >= overlap))).one()
        fully += (await session.exec(base.where(*_in_set(prompt_set, gold=True), my_vote))).one()
        mine = (await session.exec(base.where(*_in_set(prompt_set), my_vote))).one()
        mine += (await session.exec(base.where(*_in_set(prompt_set, gold=True), my_vote))).one()
    return QueueProgress(rated_by_you=mine, fully_rated=fully, total=total)


async def queued_turn(db: Database, turn_id: int) -> tuple[Turn, dict[Side, Response]]:
    """A batch turn and its two stored answers (to draw its panes)."""
    async with db.reading() as session:
        turn = await session.get(Turn, turn_id)
        responses = (await session.exec(select(Response).where(col(Response.turn_id) == turn_id))).all()
    if turn is None:
        raise LookupError(f"no turn {turn_id}")
    return turn, {cast(Side, r.side): r for r in responses}
