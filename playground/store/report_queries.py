"""Reading what the report needs out of the store, with the report's filters.

All the SQL of the report lives here; ``playground.stats`` only does numbers over the rows
returned, so the statistics are tested on plain lists and never need a database. Each row type
is a NamedTuple: read by name where it is used, and still a plain tuple for the numeric code
(``(model_a, model_b, winner)`` is what the Bradley-Terry fit takes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from playground.core.answer_style import AnswerStyle, answer_style
from playground.core.vocabulary import FinalStatus, Winner
from playground.store.database import Database
from playground.store.tables import Judgement, Rater, Rating, Response, Turn, Vote

# What the filters say when they do not restrict something.
EVERYTHING = "all"
NO_DATE = "-"


class LengthBucket(NamedTuple):
    """Prompts of ``lower`` <= tokens < ``upper`` (no upper bound: None)."""

    name: str
    lower: int
    upper: int | None


# Prompt lengths in tokens, K = 1024 as context windows are counted (an 8K window is 8,192 tokens),
# so that a prompt that fills a 32K window is in 8-32K and not one bucket up.
K = 1024
LENGTH_BUCKETS = (
    LengthBucket("<8K", 0, 8 * K),
    LengthBucket("8-32K", 8 * K, 32 * K),
    LengthBucket("32-128K", 32 * K, 128 * K),
    LengthBucket(">128K", 128 * K, None),
)
UNKNOWN_LENGTH = "unknown"  # neither side of the turn has a prompt count
LENGTH_BUCKET_NAMES = (*(bucket.name for bucket in LENGTH_BUCKETS), UNKNOWN_LENGTH)


def length_bucket(tokens: int | None) -> str:
    """The bucket of a prompt of ``tokens`` tokens (None: unknown)."""
    if tokens is None:
        return UNKNOWN_LENGTH
    for bucket in LENGTH_BUCKETS:
        if bucket.upper is None or tokens < bucket.upper:
            return bucket.name
    raise AssertionError("the last bucket has no upper bound")


def prompt_tokens_of(response: Any = Response) -> Any:
    """A side's prompt length in SQL: the count of the prompt as sent after any cut
    (``prompt_tokens_sent``, counted before sending), else the count the server reported."""
    return func.coalesce(response.prompt_tokens_sent, response.prompt_tokens)


def turn_prompt_tokens() -> Any:
    """The turn's prompt length in SQL: the larger of its two sides' (NULL when neither has a count).
    A subquery on the enclosing query's Turn (max ignores a side without a count)."""
    side = aliased(Response)
    return (sa.select(func.max(prompt_tokens_of(side)))
            .where(col(side.turn_id) == col(Turn.id))
            .scalar_subquery())


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
    # The turn's prompt-length buckets (LENGTH_BUCKET_NAMES; the larger side's count decides).
    length_buckets: tuple[str, ...] = ()
    # Raters whose votes and ratings are left out (the report's --min-rater-quality).
    exclude_raters: tuple[str, ...] = ()

    @field_validator("length_buckets")
    @classmethod
    def _known_buckets(cls, buckets: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in buckets if name not in LENGTH_BUCKET_NAMES]
        if unknown:
            raise ValueError(f"not a length bucket: {', '.join(unknown)} (use {', '.join(LENGTH_BUCKET_NAMES)})")
        return buckets

    def describe(self) -> str:
        """One line for people: "blind votes only · models: all · raters: all · categories: all ·
        since: - · until: -" (the terminal report, the HTML page and the JSON's filters_text), then
        "· prompt length: ..." when the length is filtered (the line stays as it was otherwise)."""

        def listed(values: tuple[str, ...]) -> str:
            return ", ".join(values) if values else EVERYTHING

        def when(value: datetime | None) -> str:
            return value.isoformat() if value else NO_DATE

        votes = "blind votes only" if self.blind_only else "all votes (blind and named)"
        parts = [
            votes, f"models: {listed(self.models)}", f"raters: {listed(self.raters)}",
            f"categories: {listed(self.categories)}", f"since: {when(self.since)}", f"until: {when(self.until)}",
        ]
        if self.length_buckets:
            parts.append(f"prompt length: {listed(self.length_buckets)}")
        if self.exclude_raters:
            parts.append(f"raters left out: {listed(self.exclude_raters)}")
        return " · ".join(parts)


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


class PromptTiming(NamedTuple):
    """A finished answer's prompt length (sent, else reported), time to first token and the
    prompt tokens the server took from its prefix cache (None: not reported)."""

    model: str
    prompt_tokens: int
    ttft_s: float
    cached_tokens: int | None


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


class VotedBattle(NamedTuple):
    """A vote with its turn's prompt length (the larger side's; None when neither has a count),
    and both answers' text and output tokens (None: that side's answer is not stored)."""

    model_a: str
    model_b: str
    winner: Winner
    prompt_tokens: int | None
    rater: str
    text_a: str | None
    output_tokens_a: int | None
    text_b: str | None
    output_tokens_b: int | None


# Both answers' style (a's, then b's) of one battle, for style control (stats/style.py).
BattleStyle = tuple[AnswerStyle, AnswerStyle]


class RaterVote(NamedTuple):
    """A vote for judging its rater: the turn's gold verdict (None: not a gold item), the time on
    task, and the rater's scores of both answers (None where the rater gave none)."""

    rater: str
    turn_id: int
    winner: Winner
    gold_verdict: Winner | None
    time_on_task_s: float | None
    accuracy_a: int | None
    fluency_a: int | None
    accuracy_b: int | None
    fluency_b: int | None


class FinishedAnswer(NamedTuple):
    """A finished answer's timings and its own prompt length (sent, else reported)."""

    model: str
    ttft_s: float | None
    tpot_s: float | None
    tokens_per_s: float | None
    prompt_tokens: int | None
    cached_tokens: int | None


def _labelled(row_type: type[NamedTuple], sources: dict[str, Any]) -> list[Any]:
    """The SELECT list of a row type: its fields' columns in its order, so that ``_make`` reads
    each value under its own name (a column added or moved cannot shift another's)."""
    return [sources[name].label(name) for name in row_type._fields]


@dataclass(frozen=True)
class ReportData:
    """The rows behind a report, as loaded with its filters."""

    filters: Filters
    battles: list[Battle]  # in voting order (online Elo depends on it)
    scores: list[ScoreRow]
    timings: list[TimingRow]
    answers: list[CheckedAnswer] = field(default_factory=list)
    judged: list[JudgedVote] = field(default_factory=list)
    # The same battles split by their turn's prompt-length bucket (LENGTH_BUCKET_NAMES order,
    # buckets without votes left out), each in voting order.
    battles_by_length: dict[str, list[Battle]] = field(default_factory=dict)
    prompt_timings: list[PromptTiming] = field(default_factory=list)
    # Who cast each battle (parallel to ``battles``; empty when not loaded).
    battle_raters: list[str] = field(default_factory=list)
    # Every vote of the raters in the filters, gold items included (stats/rater_quality.py).
    rater_votes: list[RaterVote] = field(default_factory=list)
    # Both answers' style per battle (parallel to ``battles``; None where an answer is not
    # stored; empty when not loaded): output tokens and FastChat's markdown counts.
    battle_styles: list[BattleStyle | None] = field(default_factory=list)


def _conditions(filters: Filters, *, blind: Any, models: tuple[Any, ...], created: Any,
                gold_items: bool = False) -> list[Any]:
    """The filters as SQL conditions; the caller joins Rater and Turn. Gold items (answers with a
    known verdict, for judging raters) are never battles, answers or ratings of a model: left
    out unless ``gold_items``."""
    conditions: list[Any] = [] if gold_items else [col(Turn.gold_verdict).is_(None)]
    if filters.blind_only:
        conditions.append(blind.is_(True))
    if filters.models:
        conditions += [column.in_(filters.models) for column in models]  # every side listed
    if filters.raters:
        conditions.append(col(Rater.name).in_(filters.raters))
    if filters.exclude_raters:
        conditions.append(col(Rater.name).not_in(filters.exclude_raters))
    if filters.categories:
        conditions.append(col(Turn.category).in_(filters.categories))
    if filters.since:
        conditions.append(created >= filters.since)
    if filters.until:
        conditions.append(created <= filters.until)
    if filters.length_buckets:
        conditions.append(_length_condition(filters.length_buckets))
    return conditions


def _length_condition(buckets: tuple[str, ...]) -> Any:
    tokens = turn_prompt_tokens()
    ranges = {bucket.name: bucket for bucket in LENGTH_BUCKETS}
    chosen = []
    for name in buckets:
        if name == UNKNOWN_LENGTH:
            chosen.append(tokens.is_(None))
            continue
        bucket = ranges[name]
        chosen.append(tokens >= bucket.lower if bucket.upper is None
                      else and_(tokens >= bucket.lower, tokens < bucket.upper))
    return or_(*chosen)


def vote_conditions(filters: Filters) -> list[Any]:
    return _conditions(filters, blind=Vote.blind, models=(Vote.model_a, Vote.model_b), created=Vote.created_at)


def _style(text: str | None, output_tokens: int | None) -> AnswerStyle | None:
    return None if text is None or output_tokens is None else answer_style(text, output_tokens)


async def load_battles(
    db: Database, filters: Filters
) -> tuple[list[Battle], dict[str, list[Battle]], list[str], list[BattleStyle | None]]:
    """Votes in the order they were first cast, the same votes by their turn's prompt-length
    bucket, who cast each and both answers' style (these two parallel to the first: one query,
    so that they stay aligned)."""
    side_a, side_b = aliased(Response), aliased(Response)
    query = (
        select(*_labelled(VotedBattle, {"model_a": Vote.model_a, "model_b": Vote.model_b, "winner": Vote.winner,
                                        "prompt_tokens": turn_prompt_tokens(), "rater": Rater.name,
                                        "text_a": side_a.text, "output_tokens_a": side_a.output_tokens,
                                        "text_b": side_b.text, "output_tokens_b": side_b.output_tokens}))
        .join(Rater, col(Rater.id) == Vote.rater_id)
        .join(Turn, col(Turn.id) == Vote.turn_id)
        .outerjoin(side_a, and_(col(side_a.turn_id) == Turn.id, col(side_a.side) == "a"))
        .outerjoin(side_b, and_(col(side_b.turn_id) == Turn.id, col(side_b.side) == "b"))
        .where(and_(True, *vote_conditions(filters)))
        .order_by(col(Vote.created_at), col(Vote.id))
    )
    battles: list[Battle] = []
    by_length: dict[str, list[Battle]] = defaultdict(list)
    raters: list[str] = []
    styles: list[BattleStyle | None] = []
    async with db.reading() as session:
        # On the connection: plain rows, without the ORM's per-row step (a report reads every vote).
        connection = await session.connection()
        for voted in map(VotedBattle._make, (await connection.execute(query)).all()):
            battle = Battle(voted.model_a, voted.model_b, voted.winner)
            battles.append(battle)
            by_length[length_bucket(voted.prompt_tokens)].append(battle)
            raters.append(voted.rater)
            a, b = _style(voted.text_a, voted.output_tokens_a), _style(voted.text_b, voted.output_tokens_b)
            styles.append(None if a is None or b is None else (a, b))
    return battles, {name: by_length[name] for name in LENGTH_BUCKET_NAMES if name in by_length}, raters, styles


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
                               until=filters.until, blind_only=False, length_buckets=filters.length_buckets),
                       blind=None, models=(Response.model,), created=Response.created_at)


FINISHED: FinalStatus = "done"
STOPPED: FinalStatus = "stopped"


async def load_timings(db: Database, filters: Filters) -> tuple[list[TimingRow], list[PromptTiming]]:
    """Timings of finished answers (rated or not; raters do not apply): an answer that failed or
    was stopped has no comparable latency. Also, of those with both a prompt length and a TTFT,
    the figures of latency against length (the answer's own prompt length, not the turn's larger
    side). One query for both: it reads every finished answer."""
    conditions = [Response.status == FINISHED, *_answer_conditions(filters)]
    query = (
        select(*_labelled(FinishedAnswer, {
            "model": Response.model, "ttft_s": Response.ttft_s, "tpot_s": Response.tpot_s,
            "tokens_per_s": Response.tokens_per_s, "prompt_tokens": prompt_tokens_of(),
            "cached_tokens": Response.cached_tokens}))
        .join(Turn, col(Turn.id) == Response.turn_id)
        .where(and_(True, *conditions))
    )
    timings: list[TimingRow] = []
    by_length: list[PromptTiming] = []
    async with db.reading() as session:
        # On the connection: plain rows, without the ORM's per-row step (a report reads every answer).
        connection = await session.connection()
        for a in map(FinishedAnswer._make, (await connection.execute(query)).all()):
            timings.append(TimingRow(a.model, a.ttft_s, a.tpot_s, a.tokens_per_s))
            if a.ttft_s is not None and a.prompt_tokens is not None:
                by_length.append(PromptTiming(a.model, a.prompt_tokens, a.ttft_s, a.cached_tokens))
    return timings, by_length


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


async def load_rater_votes(db: Database, filters: Filters) -> list[RaterVote]:
    """Every vote of the raters the filters cover (names and dates apply; the models, categories,
    blindness, lengths and left-out raters do not: a rater is judged on all their work, and one
    left out is still shown), gold items included, with the rater's scores of both answers."""
    side_a, side_b, rating_a, rating_b = aliased(Response), aliased(Response), aliased(Rating), aliased(Rating)
    conditions = _conditions(Filters(raters=filters.raters, since=filters.since, until=filters.until,
                                     blind_only=False),
                             blind=None, models=(), created=Vote.created_at, gold_items=True)
    query = (
        select(*_labelled(RaterVote, {
            "rater": Rater.name, "turn_id": Vote.turn_id, "winner": Vote.winner, "gold_verdict": Turn.gold_verdict,
            "time_on_task_s": Vote.time_on_task_s, "accuracy_a": rating_a.accuracy, "fluency_a": rating_a.fluency,
            "accuracy_b": rating_b.accuracy, "fluency_b": rating_b.fluency}))
        .join(Rater, col(Rater.id) == Vote.rater_id)
        .join(Turn, col(Turn.id) == Vote.turn_id)
        .outerjoin(side_a, and_(col(side_a.turn_id) == Turn.id, col(side_a.side) == "a"))
        .outerjoin(side_b, and_(col(side_b.turn_id) == Turn.id, col(side_b.side) == "b"))
        .outerjoin(rating_a, and_(col(rating_a.response_id) == side_a.id, col(rating_a.rater_id) == Vote.rater_id))
        .outerjoin(rating_b, and_(col(rating_b.response_id) == side_b.id, col(rating_b.rater_id) == Vote.rater_id))
        .where(and_(True, *conditions))
        .order_by(col(Vote.created_at), col(Vote.id))
    )
    async with db.reading() as session:
        connection = await session.connection()
        return [RaterVote._make(row) for row in (await connection.execute(query)).all()]


async def collect(db: Database, filters: Filters) -> ReportData:
    """Every row a report needs, loaded with the same filters."""
    battles, by_length, raters, styles = await load_battles(db, filters)
    timings, prompt_timings = await load_timings(db, filters)
    return ReportData(filters, battles, await load_scores(db, filters), timings, await load_set_answers(db, filters),
                      await load_judge_pairs(db, filters), battles_by_length=by_length, prompt_timings=prompt_timings,
                      battle_raters=raters, rater_votes=await load_rater_votes(db, filters), battle_styles=styles)
