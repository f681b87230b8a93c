"""Reading battles, scores and timings out of the store, with the report's filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_
from sqlmodel import select

from playground.store.database import Database
from playground.store.tables import Judgement, Rater, Rating, Response, Turn, Vote


@dataclass(frozen=True)
class Filters:
    models: tuple[str, ...] = ()  # a battle counts when both its models are listed
    raters: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # the prompt-set category of the turn
    since: datetime | None = None
    until: datetime | None = None
    blind_only: bool = True  # votes cast blind, ratings of turns shown blind

    def describe(self) -> dict[str, Any]:
        return {
            "models": list(self.models) or "all", "raters": list(self.raters) or "all",
            "categories": list(self.categories) or "all", "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None, "blind_only": self.blind_only,
        }


def _conditions(filters: Filters, *, blind: Any, models: tuple[Any, ...], created: Any) -> list[Any]:
    """The filters as SQL conditions; the caller joins Rater and Turn."""
    conditions: list[Any] = []
    if filters.blind_only:
        conditions.append(blind.is_(True))
    if filters.models:
        conditions += [column.in_(filters.models) for column in models]  # every side listed
    if filters.raters:
        conditions.append(Rater.name.in_(filters.raters))  # type: ignore[attr-defined]
    if filters.categories:
        conditions.append(Turn.category.in_(filters.categories))  # type: ignore[union-attr]
    if filters.since:
        conditions.append(created >= filters.since)
    if filters.until:
        conditions.append(created <= filters.until)
    return conditions


def vote_conditions(filters: Filters) -> list[Any]:
    return _conditions(filters, blind=Vote.blind, models=(Vote.model_a, Vote.model_b), created=Vote.created_at)


async def load_battles(db: Database, filters: Filters) -> list[tuple[str, str, str]]:
    """(model_a, model_b, winner) in the order the votes were first cast."""
    query = (
        select(Vote.model_a, Vote.model_b, Vote.winner)
        .join(Rater, Rater.id == Vote.rater_id)
        .join(Turn, Turn.id == Vote.turn_id)
        .where(and_(True, *vote_conditions(filters)))
        .order_by(Vote.created_at, Vote.id)
    )
    async with db.reading() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


def response_conditions(filters: Filters) -> list[Any]:
    # A rating counts as blind when its turn was shown without the names.
    return _conditions(filters, blind=Turn.blind, models=(Response.model,), created=Rating.created_at)


async def load_scores(db: Database, filters: Filters) -> list[tuple[str, str, int, int, int, str | None]]:
    """(model, rater, response id, accuracy, fluency, category) for each rating."""
    query = (
        select(Response.model, Rater.name, Response.id, Rating.accuracy, Rating.fluency, Turn.category)
        .join(Rating, Rating.response_id == Response.id)
        .join(Rater, Rater.id == Rating.rater_id)
        .join(Turn, Turn.id == Response.turn_id)
        .where(and_(True, *response_conditions(filters)))
    )
    async with db.reading() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


def _answer_conditions(filters: Filters) -> list[Any]:
    """Filters that apply to answers whether rated or not: no raters, no blind-only, answer time."""
    return _conditions(Filters(models=filters.models, categories=filters.categories, since=filters.since,
                               until=filters.until, blind_only=False),
                       blind=None, models=(Response.model,), created=Response.created_at)


async def load_timings(db: Database, filters: Filters) -> list[tuple[str, float | None, float | None, float | None]]:
    """(model, ttft, tpot, tokens/s) of complete answers (rated or not; raters do not apply)."""
    conditions = [Response.status == "done", *_answer_conditions(filters)]
    query = (
        select(Response.model, Response.ttft_s, Response.tpot_s, Response.tokens_per_s)
        .join(Turn, Turn.id == Response.turn_id)
        .where(and_(True, *conditions))
    )
    async with db.reading() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]



async def load_set_answers(db: Database, filters: Filters) -> list[tuple[str, str | None, str, str, str]]:
    """(model, category, prompt set, item id, text) of answers to prompt-set items (rated or not:
    the automatic checks need no rater), complete or failed, not stopped."""
    conditions = [Turn.prompt_set.is_not(None), Response.status != "stopped", *_answer_conditions(filters)]  # type: ignore[union-attr]
    query = (
        select(Response.model, Turn.category, Turn.prompt_set, Turn.item_id, Response.text)
        .join(Turn, Turn.id == Response.turn_id)
        .where(and_(True, *conditions))
    )
    async with db.reading() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


async def load_judge_pairs(db: Database, filters: Filters) -> list[tuple[str, str, str]]:
    """(judge model, judge's winner, a human's winner) for every human vote on a judged turn."""
    query = (
        select(Judgement.judge_model, Judgement.winner, Vote.winner)
        .join(Vote, Vote.turn_id == Judgement.turn_id)
        .join(Rater, Rater.id == Vote.rater_id)
        .join(Turn, Turn.id == Vote.turn_id)
        .where(Judgement.winner.is_not(None), and_(True, *vote_conditions(filters)))  # type: ignore[union-attr]
    )
    async with db.reading() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]
