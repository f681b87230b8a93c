"""The votes the adaptive pair policy goes by: blind votes between the arena's models, counted
per (model_a, model_b, winner) in the database (one row per cell, however many votes)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import col, select

from playground.store.database import Database
from playground.store.tables import Vote


async def vote_cells(db: Database, models: Sequence[str]) -> list[tuple[str, str, str, int]]:
    """(model_a, model_b, winner, votes) of the blind votes where both sides are in ``models``."""
    query = (
        select(Vote.model_a, Vote.model_b, Vote.winner, func.count(col(Vote.id)))
        .where(col(Vote.blind).is_(True), col(Vote.model_a).in_(models), col(Vote.model_b).in_(models))
        .group_by(col(Vote.model_a), col(Vote.model_b), col(Vote.winner))
    )
    async with db.reading() as session:
        return [(a, b, winner, int(n)) for a, b, winner, n in (await session.exec(query)).all()]
