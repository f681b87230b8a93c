"""Reading what the report needs out of the store, with the report's filters.

All the SQL of the report lives here; ``playground.stats`` only does numbers over the rows
returned, so the statistics are tested on plain lists and never need a database. Each row type
is a NamedTuple: read by name where it is used, and still a plain tuple for the numeric code
(``(model_a, model_b, winner)`` is what the Bradley-Terry fit takes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from playground.core.answer_style import AnswerStyle, answer_style
from playground.core.vocabulary import FinalStatus, Winner
from playground.store.database import Database
from playground.store.report_filters import (
    LENGTH_BUCKET_NAMES,
    Filters,
    answer_conditions,
    filter_conditions,
    length_bucket,
    prompt_tokens_of,
    response_conditions,
    turn_prompt_tokens,
    vote_conditions,
)
from playground.store.tables import Judgement, Rater, Rating, Response, Turn, Vote


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


FINISHED: FinalStatus = "done"
STOPPED: FinalStatus = "stopped"


async def load_timings(db: Database, filters: Filters) -> tuple[list[TimingRow], list[PromptTiming]]:
    """Timings of finished answers (rated or not; raters do not apply): an answer that failed or
    was stopped has no comparable latency. Also, of those with both a prompt length and a TTFT,
    the figures of latency against length (the answer's own prompt length, not the turn's larger
    side). One query for both: it reads every finished answer."""
    conditions = [Response.status == FINISHED, *answer_conditions(filters)]
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
                  *answer_conditions(filters)]
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
    conditions = filter_conditions(Filters(raters=filters.raters, since=filters.since, until=filters.until,
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
