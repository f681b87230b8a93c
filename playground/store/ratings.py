"""Ratings and votes: checked on the server, written in one transaction, updated in place.

A rater scores both answers of a turn (accuracy and fluency, 1-5) and says which was better. What
the browser sends is not trusted: out-of-range values, unknown turns, turns of another rater's
conversation and turns whose answers have not both ended are refused with a message, and nothing
is written. A rater who submits again for the same turn changes their rating and vote (one row
each, ``updated_at`` moves). When :func:`submit_rating` returns, the transaction is committed.

One vote per rater, prompt and pair of models: a first vote on a turn whose prompt (the same text
and system prompt, each the first turn of its conversation, with the same attached documents)
this rater already voted on with the same two models (either side), in another turn, is refused
(the rater can change that earlier vote instead). Later turns of a conversation are never
duplicates: their history differs.

``time_on_task_s`` (optional): seconds from the panel being shown to the submit, measured in the
browser. A value that is not a number in (0, MAX_TIME_ON_TASK_S] is stored as null (not
measured) rather than refused: a broken clock must not cost the rater their rating. A changed
vote keeps the time of the first submit (the time the decision took).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playground.core.vocabulary import SIDES, Winner
from playground.store.database import Database
from playground.store.records import names_hidden, shown_blind, verdicts_by_side
from playground.store.tables import (
    SCORE_MAX,
    SCORE_MIN,
    Assignment,
    Conversation,
    Rater,
    Rating,
    Response,
    Turn,
    TurnDocument,
    Vote,
    utcnow,
)

MAX_COMMENT_CHARS = 5000
MAX_TIME_ON_TASK_S = 86_400.0  # a day: longer is a panel left open, not time on the task


class RatingRefused(ValueError):
    """A submission that was not stored, with a message for the rater."""


class SideScores(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    accuracy: int = Field(ge=SCORE_MIN, le=SCORE_MAX)
    fluency: int = Field(ge=SCORE_MIN, le=SCORE_MAX)


class RatingSubmission(BaseModel):
    """What the rating panel sends for one turn."""

    model_config = ConfigDict(extra="forbid")
    turn_id: int = Field(strict=True)
    a: SideScores
    b: SideScores
    winner: Winner
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    time_on_task_s: float | None = None

    @field_validator("time_on_task_s", mode="before")
    @classmethod
    def _measured_or_none(cls, value: object) -> float | None:
        """A plausible number of seconds, else None (stored as not measured, never refused)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        seconds = float(value)
        return seconds if math.isfinite(seconds) and 0 < seconds <= MAX_TIME_ON_TASK_S else None

    @classmethod
    def parse(cls, payload: object) -> RatingSubmission:
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'rating'}: {err['msg']}"
                for err in exc.errors()
            )
            raise RatingRefused(f"Rating not saved: {problems}.") from None


class StoredRating(BaseModel):
    turn_id: int
    changed: bool  # an earlier rating of this turn was updated
    winner: Winner
    blind: bool
    model_a: str
    model_b: str
    gold: bool = False  # a gold item: its answers stay unnamed, so that no rater learns which are gold
    updated_at: datetime
    # What the panel shows once saved, as ratings_of_turn reads it back, and the automatic checks'
    # verdicts as stored_checks reads them: known here, so the acknowledgement reads nothing more
    # (with many raters at once every read is a wait for the event loop and a pool connection).
    saved: dict[str, Any]
    checks: dict[str, str] | None = None


async def submit_rating(db: Database, rater_id: int, payload: object) -> StoredRating:
    """Check and store one turn's ratings and vote for ``rater_id``; raise RatingRefused."""
    submission = payload if isinstance(payload, RatingSubmission) else RatingSubmission.parse(payload)
    now = utcnow()
    # What cannot change once a turn is stored (the turn, its conversation's owner and kind, its
    # two answers, a queue hand-out) is checked from a snapshot, outside the write lock: with many
    # raters at once every statement inside the lock is a round trip that all other writers wait
    # for. What can change (an earlier vote, the names' reveal) is read in the transaction.
    async with db.reading() as session:
        turn = await session.get(Turn, submission.turn_id)
        if turn is None:
            raise RatingRefused(f"Rating not saved: there is no turn {submission.turn_id}.")
        turn_id = submission.turn_id
        conversation = await session.get(Conversation, turn.conversation_id)
        assert conversation is not None  # a foreign key
        batch = conversation.kind == "batch"
        if batch:
            # A batch item is rated by whoever the queue handed it to, and only by them.
            handed = (await session.exec(
                select(Assignment.id).where(Assignment.turn_id == turn.id, Assignment.rater_id == rater_id)
            )).first()
            if handed is None:
                raise RatingRefused(
                    f"Rating not saved: turn {submission.turn_id} was not handed to you by the rating queue."
                )
        elif conversation.rater_id != rater_id:
            raise RatingRefused(
                f"Rating not saved: turn {submission.turn_id} belongs to another rater's conversation."
            )
        responses = {
            r.side: r
            for r in (await session.exec(select(Response).where(Response.turn_id == turn.id))).all()
        }
        if set(responses) != set(SIDES):
            raise RatingRefused(
                f"Rating not saved: turn {submission.turn_id} has not finished on both sides yet."
            )
    async with db.transaction() as session:
        if db.dialect == "postgresql":
            # One rater's submits one at a time (the duplicate check reads, then writes); SQLite's
            # BEGIN IMMEDIATE already serializes whole transactions.
            await session.exec(select(Rater.id).where(Rater.id == rater_id).with_for_update())
        revealed_at = (await session.exec(
            select(Conversation.revealed_at).where(Conversation.id == conversation.id)
        )).one()
        conversation.revealed_at = revealed_at  # as it is now (a vote just before may have revealed)
        earlier = (
            await session.exec(select(Vote.id).where(Vote.turn_id == turn.id, Vote.rater_id == rater_id))
        ).first()
        # Cast blind only if the names were hidden when the turn was shown and still are now
        # (a vote changed after the reveal is no longer blind).
        # A batch item is shared by several raters: each is blind until their own first vote.
        blind = earlier is None if batch else shown_blind(turn, conversation)
        if earlier is None:
            duplicate = await _same_prompt_voted(session, rater_id, turn, responses["a"].model, responses["b"].model)
            if duplicate is not None:
                raise RatingRefused(
                    f"Rating not saved: you already voted on this prompt with the same two models (turn "
                    f"{duplicate}); one vote per prompt and pair. Change that vote instead."
                )
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        # Both sides' scores in one statement (one round trip).
        ratings = insert(Rating).values([
            {"response_id": responses[side].id, "rater_id": rater_id, "accuracy": getattr(submission, side).accuracy,
             "fluency": getattr(submission, side).fluency, "comment": submission.comment,
             "created_at": now, "updated_at": now}
            for side in SIDES
        ])
        await session.exec(
            ratings.on_conflict_do_update(
                index_elements=["response_id", "rater_id"],
                set_={"accuracy": ratings.excluded.accuracy, "fluency": ratings.excluded.fluency,
                      "comment": ratings.excluded.comment, "updated_at": now},
            )
        )
        statement = insert(Vote).values(
            turn_id=turn.id,
            rater_id=rater_id,
            winner=submission.winner,
            model_a=responses["a"].model,
            model_b=responses["b"].model,
            blind=blind,
            time_on_task_s=submission.time_on_task_s,
            created_at=now,
            updated_at=now,
        )
        await session.exec(
            statement.on_conflict_do_update(
                index_elements=["turn_id", "rater_id"],
                set_={"winner": submission.winner, "blind": blind, "updated_at": now,
                      # The first measured time stays: a changed vote is not a new task.
                      "time_on_task_s": func.coalesce(col(Vote.time_on_task_s), statement.excluded.time_on_task_s)},
            )
        )
        if not batch and names_hidden(conversation):
            conversation.revealed_at = now  # the names are shown from now on
            await session.exec(
                update(Conversation).where(col(Conversation.id) == conversation.id).values(revealed_at=now)
            )
    return StoredRating(
        turn_id=turn_id,
        changed=earlier is not None,
        winner=submission.winner,
        blind=blind,
        model_a=responses["a"].model,
        model_b=responses["b"].model,
        gold=turn.gold_verdict is not None,
        updated_at=now,
        saved=_panel_values(submission.winner, submission.comment,
                            {side: getattr(submission, side).model_dump() for side in SIDES}),
        checks=verdicts_by_side((side, r.check_verdict) for side, r in responses.items()),
    )


def _panel_values(winner: str, comment: str, scores: dict[str, dict[str, int]]) -> dict[str, Any]:
    """A rater's saved rating of a turn in the rating panel's shape."""
    return {"winner": winner, "comment": comment, **scores}


async def _same_prompt_voted(
    session: AsyncSession, rater_id: int, turn: Turn, model_a: str, model_b: str
) -> int | None:
    """The id of another turn with this turn's prompt and pair that this rater voted on, or None."""
    # The same rule as queue.voted_same_prompt (the queue does not hand out what this refuses),
    # with the documents compared too.
    if turn.position != 0:
        return None
    candidates = (await session.exec(
        select(Vote.turn_id).join(Turn, col(Turn.id) == col(Vote.turn_id)).where(
            Vote.rater_id == rater_id, Vote.turn_id != turn.id, Turn.position == 0, Turn.prompt == turn.prompt,
            Turn.system_prompt == turn.system_prompt,
            ((Vote.model_a == model_a) & (Vote.model_b == model_b))
            | ((Vote.model_a == model_b) & (Vote.model_b == model_a)),
        ).order_by(col(Vote.turn_id))
    )).all()
    if not candidates:
        return None
    documents = (await session.exec(
        select(TurnDocument.turn_id, TurnDocument.document_id)
        .where(col(TurnDocument.turn_id).in_([turn.id, *candidates]))
    )).all()
    attached: dict[int, set[str]] = {}
    for turn_id, document_id in documents:
        attached.setdefault(turn_id, set()).add(document_id)
    mine = attached.get(turn.id or 0, set())
    return next((c for c in candidates if attached.get(c, set()) == mine), None)


async def ratings_of_turn(db: Database, turn_id: int, rater_id: int) -> dict[str, Any] | None:
    """What this rater gave for a turn, in the panel's shape, or None."""
    async with db.reading() as session:
        vote = (
            await session.exec(select(Vote).where(Vote.turn_id == turn_id, Vote.rater_id == rater_id))
        ).first()
        if vote is None:
            return None
        rows = (
            await session.exec(
                select(Response.side, Rating)
                .join(Rating, col(Rating.response_id) == col(Response.id))
                .where(Response.turn_id == turn_id, Rating.rater_id == rater_id)
            )
        ).all()
    scores = {side: {"accuracy": r.accuracy, "fluency": r.fluency} for side, r in rows}
    return _panel_values(vote.winner, next((r.comment for _, r in rows), ""), scores)
