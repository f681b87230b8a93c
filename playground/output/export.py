"""Exports of the stored ratings: chat JSONL, flat CSV, DPO preference pairs, FastChat battles.

Field names as users of these formats expect them (docs/definitions.md):

* ``jsonl``: one line per conversation and side (one model's transcript),
  ``{"messages": [{"role", "content"}, ...]}`` with ``model``, ``side``, ``conversation_id``,
  ``rater``, ``mode`` and per turn the ratings and the vote alongside;
* ``csv``: one row per rated response, flat columns (CSV_COLUMNS); a text cell that a
  spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return) is prefixed with a single quote, as OWASP advises against CSV injection;
* ``dpo``: TRL's conversational preference form ``{"prompt": [messages], "chosen":
  [{"role": "assistant", ...}], "rejected": [...]}``; the prompt is the turn's system prompt and
  user message (each side had its own earlier answers, so earlier turns are not a shared
  context); ties, errors and empty answers are not pairs;
* ``fastchat``: the cleaned battle log, ``question_id, model_a, model_b, winner, judge,
  conversation_a, conversation_b, turn, anony, language, tstamp`` (``tstamp``: seconds since
  the epoch of the vote, UTC).

Rows are streamed from the database (``yield_per``), so memory does not grow with it, and read
by column name: each query is built from a NamedTuple's fields, so a column added or moved
cannot shift another one's values.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import IO, Any, NamedTuple

import orjson
from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from playground.core.vocabulary import A_WINS, B_WINS, SIDES, FinalStatus, Mode, Side, Winner
from playground.store.database import Database
from playground.store.report_queries import Filters, response_conditions, vote_conditions
from playground.store.tables import Conversation, Rater, Rating, Response, Turn, Vote

FORMATS = ("jsonl", "csv", "dpo", "fastchat")
CSV_COLUMNS = [
    "rating_id", "conversation_id", "turn_id", "turn", "side", "model", "prompt", "system_prompt",
    "category", "response", "reasoning", "status", "finish_reason", "accuracy", "fluency", "comment", "rater",
    "winner", "blind", "ttft_s", "tpot_s", "tokens_per_s", "output_tokens", "rated_at",
]
# Cells with free text (typed by raters or written by models): the ones a formula can hide in.
# The others are ids, numbers, dates and words of core.vocabulary.
CSV_TEXT_COLUMNS = ("model", "prompt", "system_prompt", "category", "response", "reasoning", "comment", "rater")
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection): such a cell is written
# with a leading single quote, which spreadsheets show as text.
FORMULA_STARTS = "=+-@\t\r"
BATCH = 2000
# Typed by core.vocabulary, so that mypy rejects a misspelt word.
FAILED: FinalStatus = "error"
LEFT, RIGHT = SIDES


def _line(document: dict[str, Any]) -> str:
    # orjson: several times faster than json.dumps, and UTF-8 as is (no \u escapes).
    return orjson.dumps(document).decode() + "\n"


def _utc(when: datetime) -> datetime:
    """A stored time as an aware UTC datetime. SQLite gives back naive datetimes (the UTC time
    that was written, without its zone); read as local time they would be off by the machine's
    UTC offset."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


@dataclass
class ExportCounts:
    written: int = 0
    skipped: int = 0


class RatedResponse(NamedTuple):
    """One rating of one answer, with its turn, conversation, rater and that rater's vote."""

    rating_id: int
    conversation_id: str
    turn_id: int
    position: int  # 0-based; exported as "turn", 1-based
    side: Side
    model: str
    prompt: str
    system_prompt: str
    category: str | None
    response: str
    reasoning: str
    status: FinalStatus
    finish_reason: str | None
    accuracy: int
    fluency: int
    comment: str
    rater: str
    winner: Winner | None  # None when the rater scored without voting
    blind: bool
    ttft_s: float | None
    tpot_s: float | None
    tokens_per_s: float | None
    output_tokens: int
    rated_at: datetime
    mode: Mode


# Plain columns rather than ORM objects: building four entities per row would cost more than
# the whole rest of the export.
RATED_RESPONSE_SOURCES: dict[str, Any] = {
    "rating_id": Rating.id, "conversation_id": Turn.conversation_id, "turn_id": Turn.id,
    "position": Turn.position, "side": Response.side, "model": Response.model, "prompt": Turn.prompt,
    "system_prompt": Turn.system_prompt, "category": Turn.category, "response": Response.text,
    "reasoning": Response.reasoning, "status": Response.status, "finish_reason": Response.finish_reason,
    "accuracy": Rating.accuracy, "fluency": Rating.fluency, "comment": Rating.comment, "rater": Rater.name,
    "winner": Vote.winner, "blind": Turn.blind, "ttft_s": Response.ttft_s, "tpot_s": Response.tpot_s,
    "tokens_per_s": Response.tokens_per_s, "output_tokens": Response.output_tokens,
    "rated_at": Rating.updated_at, "mode": Conversation.mode,
}


def _columns(row_type: type[NamedTuple], sources: dict[str, Any]) -> list[Any]:
    """The SELECT list of a row type: its fields' columns, in its order, labelled by name."""
    return [sources[name].label(name) for name in row_type._fields]


async def _partitions(query: Any, db: Database) -> AsyncGenerator[Sequence[Any], None]:
    async with db.reading() as session:
        result = await session.stream(query.execution_options(yield_per=BATCH))
        # Whole partitions: iterating row by row would cross into the driver's greenlet per row.
        async for partition in result.partitions(BATCH):
            yield partition


def _rated_responses(db: Database, filters: Filters) -> AsyncGenerator[Sequence[Any], None]:
    """Batches of rows in RatedResponse's columns, one row per rating, grouped by conversation,
    side and rater, turns in order."""
    query = (
        select(*_columns(RatedResponse, RATED_RESPONSE_SOURCES))
        .join(Response, col(Response.id) == Rating.response_id)
        .join(Turn, col(Turn.id) == Response.turn_id)
        .join(Conversation, col(Conversation.id) == Turn.conversation_id)
        .join(Rater, col(Rater.id) == Rating.rater_id)
        .outerjoin(Vote, and_(col(Vote.turn_id) == Turn.id, col(Vote.rater_id) == Rating.rater_id))
        .where(and_(True, *response_conditions(filters)))
        .order_by(Turn.conversation_id, Response.side, Rater.name, Turn.position)
    )
    return _partitions(query, db)


class VoteRow(NamedTuple):
    """One vote with its turn and both answers (None when a side is missing)."""

    vote_id: int
    winner: Winner
    model_a: str
    model_b: str
    blind: bool
    created_at: datetime
    turn_id: int
    position: int
    prompt: str
    system_prompt: str
    rater: str
    a_model: str | None
    a_text: str | None
    a_status: FinalStatus | None
    b_model: str | None
    b_text: str | None
    b_status: FinalStatus | None


def _votes(db: Database, filters: Filters) -> AsyncGenerator[Sequence[Any], None]:
    """Batches of rows in VoteRow's columns, in the order the votes were cast."""
    side_a, side_b = aliased(Response), aliased(Response)
    sources = {
        "vote_id": Vote.id, "winner": Vote.winner, "model_a": Vote.model_a, "model_b": Vote.model_b,
        "blind": Vote.blind, "created_at": Vote.created_at, "turn_id": Turn.id, "position": Turn.position,
        "prompt": Turn.prompt, "system_prompt": Turn.system_prompt, "rater": Rater.name,
        "a_model": side_a.model, "a_text": side_a.text, "a_status": side_a.status,
        "b_model": side_b.model, "b_text": side_b.text, "b_status": side_b.status,
    }
    query = (
        select(*_columns(VoteRow, sources))
        .join(Turn, col(Turn.id) == Vote.turn_id)
        .join(Rater, col(Rater.id) == Vote.rater_id)
        .outerjoin(side_a, and_(col(side_a.turn_id) == Turn.id, col(side_a.side) == LEFT))
        .outerjoin(side_b, and_(col(side_b.turn_id) == Turn.id, col(side_b.side) == RIGHT))
        .where(and_(True, *vote_conditions(filters)))
        .order_by(col(Vote.created_at), col(Vote.id))
    )
    return _partitions(query, db)


async def export(db: Database, fmt: str, out: IO[str], filters: Filters) -> ExportCounts:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return await {"jsonl": _jsonl, "csv": _csv, "dpo": _dpo, "fastchat": _fastchat}[fmt](db, out, filters)


# Where each CSV column comes from in RatedResponse ("turn" is the 1-based position).
_CSV_SOURCE = {"turn": "position"}


async def _csv(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    # Columns picked by name, their indices worked out once: every row is then read by index (the
    # cheapest way through a million rows, cheaper than a NamedTuple per row), never by an index
    # written by hand.
    fields = RatedResponse._fields
    pick = itemgetter(*(fields.index(_CSV_SOURCE.get(column, column)) for column in CSV_COLUMNS))
    turn, rated_at = CSV_COLUMNS.index("turn"), CSV_COLUMNS.index("rated_at")
    texts = [CSV_COLUMNS.index(column) for column in CSV_TEXT_COLUMNS]
    starts = FORMULA_STARTS
    async for rows in _rated_responses(db, filters):
        for row in rows:
            line = list(pick(row))
            line[turn] += 1
            when = line[rated_at]
            # The same text as _utc(when).isoformat(), without building a second datetime per row.
            line[rated_at] = when.isoformat() + "+00:00" if when.tzinfo is None else when.isoformat()
            for i in texts:
                text = line[i]
                if text and text[0] in starts:  # inline, not a call: it runs for 8 cells of every row
                    line[i] = "'" + text
            writer.writerow(line)
        counts.written += len(rows)
    return counts


class EarlierTurn(NamedTuple):
    position: int
    system_prompt: str
    prompt: str
    answer: str


async def _earlier_turns(db: Database, conversation_id: str, side: str, last: int) -> list[EarlierTurn]:
    """One side's turns up to ``last``, in order."""
    query = (
        select(Turn.position, Turn.system_prompt, Turn.prompt, Response.text)
        .join(Response, col(Response.turn_id) == Turn.id)
        .where(Turn.conversation_id == conversation_id, Response.side == side, Turn.position <= last)
        .order_by(col(Turn.position))
    )
    async with db.reading() as session:
        return [EarlierTurn._make(row) for row in (await session.exec(query)).all()]


async def _jsonl(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    """One line per conversation side and rater: the transcript up to the last rated turn, with
    the ratings per turn alongside (an unrated earlier turn is in the messages, as the model saw
    it, and in ``turns`` with ``rated`` false)."""
    counts = ExportCounts()
    current: dict[str, Any] | None = None
    key: tuple[str, str, str] | None = None

    async def flush() -> None:
        if current is None:
            return
        positions = [t["turn"] - 1 for t in current["turns"]]
        if positions != list(range(len(positions))):
            # Unrated turns before a rated one: fetch them, so the transcript has the context the
            # model had (rare: raters usually rate every turn, so this costs little).
            rated = {t["turn"] - 1: t for t in current["turns"]}
            turns = await _earlier_turns(db, current["conversation_id"], current["side"], max(positions))
            system = turns[0].system_prompt if turns else ""
            current["messages"] = [{"role": "system", "content": system}] if system else []
            current["turns"] = []
            for turn in turns:
                current["messages"] += [{"role": "user", "content": turn.prompt},
                                        {"role": "assistant", "content": turn.answer}]
                current["turns"].append(rated.get(turn.position, {"turn": turn.position + 1, "rated": False}))
        out.write(_line(current))
        counts.written += 1

    async for rows in _rated_responses(db, filters):
        for r in map(RatedResponse._make, rows):
            if key != (r.conversation_id, r.side, r.rater):
                await flush()
                key = (r.conversation_id, r.side, r.rater)
                current = {"messages": [], "conversation_id": r.conversation_id, "side": r.side, "model": r.model,
                           "mode": r.mode, "rater": r.rater, "turns": []}
                if r.system_prompt:
                    current["messages"].append({"role": "system", "content": r.system_prompt})
            assert current is not None
            current["messages"] += [{"role": "user", "content": r.prompt}, {"role": "assistant", "content": r.response}]
            current["turns"].append({
                "turn": r.position + 1, "rated": True, "turn_id": r.turn_id, "category": r.category,
                "status": r.status, "accuracy": r.accuracy, "fluency": r.fluency, "comment": r.comment,
                "winner": r.winner, "blind": r.blind, "ttft_s": r.ttft_s, "tokens_per_s": r.tokens_per_s,
            })
    await flush()
    return counts


async def _dpo(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    async for rows in _votes(db, filters):
        for v in map(VoteRow._make, rows):
            if v.winner not in (A_WINS, B_WINS) or v.a_text is None or v.b_text is None:
                counts.skipped += 1  # ties are not pairs; a turn missing a side cannot be one
                continue
            a_won = v.winner == A_WINS
            chosen, rejected = (v.a_text, v.b_text) if a_won else (v.b_text, v.a_text)
            chosen_status = v.a_status if a_won else v.b_status
            if chosen_status == FAILED or not chosen.strip() or not rejected.strip():
                counts.skipped += 1  # an empty or failed answer teaches nothing
                continue
            messages = [{"role": "system", "content": v.system_prompt}] if v.system_prompt else []
            messages.append({"role": "user", "content": v.prompt})
            out.write(_line({
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "chosen_model": v.a_model if a_won else v.b_model,
                "rejected_model": v.b_model if a_won else v.a_model,
                "turn_id": v.turn_id,
            }))
            counts.written += 1
    return counts


async def _fastchat(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    async for rows in _votes(db, filters):
        for v in map(VoteRow._make, rows):
            if v.a_text is None or v.b_text is None:
                counts.skipped += 1
                continue
            question = {"role": "user", "content": v.prompt}
            out.write(_line({
                "question_id": str(v.turn_id), "model_a": v.model_a, "model_b": v.model_b, "winner": v.winner,
                "judge": v.rater, "conversation_a": [question, {"role": "assistant", "content": v.a_text}],
                "conversation_b": [question, {"role": "assistant", "content": v.b_text}],
                "turn": v.position + 1, "anony": v.blind, "language": "unknown",
                "tstamp": _utc(v.created_at).timestamp(),
            }))
            counts.written += 1
    return counts
