"""The votes the adaptive pair policy goes by: blind votes between the arena's models, counted
per (model_a, model_b, winner) in the database (one row per cell, however many votes); and each
reported vote's pair probability, for weighting battles by its inverse."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func
from sqlmodel import col, select

from playground.store.database import Database
from playground.store.report_filters import Filters, vote_conditions
from playground.store.tables import Conversation, Rater, Turn, Vote


async def vote_cells(db: Database, models: Sequence[str]) -> list[tuple[str, str, str, int]]:
    """(model_a, model_b, winner, votes) of the blind votes where both sides are in ``models``."""
    query = (
        select(Vote.model_a, Vote.model_b, Vote.winner, func.count(col(Vote.id)))
        .where(col(Vote.blind).is_(True), col(Vote.model_a).in_(models), col(Vote.model_b).in_(models))
        .group_by(col(Vote.model_a), col(Vote.model_b), col(Vote.winner))
    )
    async with db.reading() as session:
        return [(a, b, winner, int(n)) for a, b, winner, n in (await session.exec(query)).all()]


async def load_pair_probabilities(db: Database, filters: Filters) -> list[float | None]:
    """For every vote ``report_queries.load_battles`` returns with ``filters``, in the same order:
    the probability with which its conversation's pair was drawn (None: a conversation from before
    pairs were drawn, i.e. the config's fixed pair)."""
    query = (
        select(Conversation.pair_probability)
        .join(Turn, col(Turn.conversation_id) == Conversation.id)
        .join(Vote, col(Vote.turn_id) == Turn.id)
        .join(Rater, col(Rater.id) == Vote.rater_id)
        .where(and_(True, *vote_conditions(filters)))
        .order_by(col(Vote.created_at), col(Vote.id))
    )
    async with db.reading() as session:
        return list((await session.exec(query)).all())
