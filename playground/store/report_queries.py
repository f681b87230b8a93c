"""Reading what the report needs out of the store, with the report's filters.

All the SQL of the report lives here; ``playground.stats`` only does numbers over the rows
returned, so the statistics are tested on plain lists and never need a database. Each row type
is a NamedTuple: read by name where it is used, and still a plain tuple for the numeric code
(``(model_a, model_b, winner)`` is what the Bradley-Terry fit takes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_
from sqlmodel import col, select

from playground.core.vocabulary import FinalStatus, Winner
from playground.store.database import Database
from playground.store.tables import Judgement, Rater, Rating, Response, Turn, Vote

# What the filters say when they do not restrict something.
EVERYTHING = "all"
NO_DATE = "-"


class Filters(BaseModel):
    """Which votes, ratings and answers a report or an export covers. A pydantic model so that
    the report's JSON carries it as a structured object next to its one-line description."""

    model_config = ConfigDict(frozen=True)

    models: tuple[str, ...] = ()  # a battle counts when both its models are listed
    raters: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # the prompt-set category of the turn
    since: datetime | None = None
    until: datetime | None = None
    blind_only: bool = True  # votes cast blind, ratings of turns shown blind

    def describe(self) -> str:
        """One line for people: "blind votes only · models: all · raters: all · categories: all ·
        since: - · until: -" (the terminal report, the HTML page and the JSON's filters_text)."""

        def listed(values: tuple[str, ...]) -> str:
            return ", ".join(values) if values else EVERYTHING

        def when(value: datetime | None) -> str:
            return value.isoformat() if value else NO_DATE

        votes = "blind votes only" if self.blind_only else "all votes (blind and named)"
        return " · ".join([
            votes, f"models: {listed(self.models)}", f"raters: {listed(self.raters)}",
            f"categories: {listed(self.categories)}", f"since: {when(self.since)}", f"until: {when(self.until)}",
        ])


class Battle(NamedTuple):
    """One vote, in FastChat's labels."""

    model_a: str
    model_b: str
    winner: Winner


class ScoreRow(NamedTuple):
    """One rating of one answer on the 1-5 scales."""

    model: str
    rater: str
    response_id: int
    accuracy: int
    fluency: int
    category: str | None


class TimingRow(NamedTuple):
    """The latency figures of one finished answer (None where the answer had no such figure)."""

    model: str
    ttft_s: float | None
    tpot_s: float | None
    tokens_per_s: float | None


class CheckedAnswer(NamedTuple):
    """An answer to a prompt-set item and whether it contained a reference answer, as stored
    with the answer (the item may have been edited since)."""

    model: str
    category: str | None
    reference_match: bool


class JudgedVote(NamedTuple):
    """A human vote on a turn an LLM judge also judged."""

    judge_model: str
    judge_winner: Winner
    human_winner: Winner


@dataclass(frozen=True)
class ReportData:
    """The rows behind a report, as loaded with its filters."""

    filters: Filters
    battles: list[Battle]  # in voting order (online Elo depends on it)
    scores: list[ScoreRow]
    timings: list[TimingRow]
    answers: list[CheckedAnswer] = field(default_factory=list)
    judged: list[JudgedVote] = field(default_factory=list)


def _conditions(filters: Filters, *, blind: Any, models: tuple[Any, ...], created: Any) -> list[Any]:
    """The filters as SQL conditions; the caller joins Rater and Turn."""
    conditions: list[Any] = []
    if filters.blind_only:
        conditions.append(blind.is_(True))
    if filters.models:
        conditions += [column.in_(filters.models) for column in models]  # every side listed
    if filters.raters:
        conditions.append(col(Rater.name).in_(filters.raters))
    if filters.categories:
        conditions.append(col(Turn.category).in_(filters.categories))
    if filters.since:
        conditions.append(created >= filters.since)
    if filters.until:
        conditions.append(created <= filters.until)
    return conditions


def vote_conditions(filters: Filters) -> list[Any]:
    return _conditions(filters, blind=Vote.blind, models=(Vote.model_a, Vote.model_b), created=Vote.created_at)


async def load_battles(db: Database, filters: Filters) -> list[Battle]:
    """Votes in the order they were first cast."""
    query = (
        select(Vote.model_a, Vote.model_b, Vote.winner)
        .join(Rater, col(Rater.id) == Vote.rater_id)
        .join(Turn, col(Turn.id) == Vote.turn_id)
        .where(and_(True, *vote_conditions(filters)))
        .order_by(col(Vote.created_at), col(Vote.id))
    )
    async with db.reading() as session:
        return [Battle._make(row) for row in (await session.exec(query)).all()]


def response_conditions(filters: Filters) -> list[Any]:
    # A rating counts as blind when its turn was shown without the names.
    return _conditions(filters, blind=Turn.blind, models=(Response.model,), created=Rating.created_at)


async def load_scores(db: Database, filters: Filters) -> list[ScoreRow]:
    """Every rating with its answer's model and its turn's category."""
    query = (
        # sqlmodel's select is typed for up to four columns; the six are right.
        select(Response.model, Rater.name, Response.id, Rating.accuracy, Rating.fluency,  # type: ignore[call-overload]
               Turn.category)
        .join(Rating, Rating.response_id == Response.id)
        .join(Rater, col(Rater.id) == Rating.rater_id)
        .join(Turn, col(Turn.id) == Response.turn_id)
        .where(and_(True, *response_conditions(filters)))
    )
    async with db.reading() as session:
        return [ScoreRow._make(row) for row in (await session.exec(query)).all()]


def _answer_conditions(filters: Filters) -> list[Any]:
    """Filters that apply to answers whether rated or not: no raters, no blind-only, answer time."""
    return _conditions(Filters(models=filters.models, categories=filters.categories, since=filters.since,
                               until=filters.until, blind_only=False),
                       blind=None, models=(Response.model,), created=Response.created_at)


FINISHED: FinalStatus = "done"
STOPPED: FinalStatus = "stopped"


async def load_timings(db: Database, filters: Filters) -> list[TimingRow]:
    """Timings of finished answers (rated or not; raters do not apply): an answer that failed or
    was stopped has no comparable latency."""
    conditions = [Response.status == FINISHED, *_answer_conditions(filters)]
    query = (
        select(Response.model, Response.ttft_s, Response.tpot_s, Response.tokens_per_s)
        .join(Turn, col(Turn.id) == Response.turn_id)
        .where(and_(True, *conditions))
    )
    async with db.reading() as session:
        return [TimingRow._make(row) for row in (await session.exec(query)).all()]


async def load_set_answers(db: Database, filters: Filters) -> list[CheckedAnswer]:
    """Answers to prompt-set items with a reference answer (rated or not: the automatic checks need
    no rater), done or failed, with the verdict stored when the answer was stored. The prompt
    sets are not read again: an item edited later does not rewrite past accuracy. Answers without
    a stored verdict (typed prompts, items without references, sets gone before migration 0005
    backfilled them) are left out; so are stopped ones, which are not the model's answer."""
    conditions = [col(Response.reference_match).is_not(None), col(Response.status) != STOPPED,
                  *_answer_conditions(filters)]
    query = (
        select(Response.model, Turn.category, Response.reference_match)
        .join(Turn, col(Turn.id) == Response.turn_id)
        .where(and_(True, *conditions))
    )
    async with db.reading() as session:
        return [CheckedAnswer._make(row) for row in (await session.exec(query)).all()]


async def load_judge_pairs(db: Database, filters: Filters) -> list[JudgedVote]:
    """Every human vote on a turn the judge gave a verdict on."""
    query = (
        select(Judgement.judge_model, Judgement.winner, Vote.winner)
        .join(Vote, col(Vote.turn_id) == Judgement.turn_id)
        .join(Rater, col(Rater.id) == Vote.rater_id)
        .join(Turn, col(Turn.id) == Vote.turn_id)
        .where(col(Judgement.winner).is_not(None), and_(True, *vote_conditions(filters)))
    )
    async with db.reading() as session:
        return [JudgedVote._make(row) for row in (await session.exec(query)).all()]


async def collect(db: Database, filters: Filters) -> ReportData:
    """Every row a report needs, loaded with the same filters."""
    return ReportData(filters, await load_battles(db, filters), await load_scores(db, filters),
                      await load_timings(db, filters), await load_set_answers(db, filters),
                      await load_judge_pairs(db, filters))
