"""Exports of the stored ratings: chat JSONL, flat CSV, DPO preference pairs, FastChat battles.

Field names as users of these formats expect them (DESIGN.md):

* ``jsonl``: one line per conversation and side (one model's transcript),
  ``{"messages": [{"role", "content"}, ...]}`` with ``model``, ``side``, ``conversation_id``,
  ``rater``, ``mode`` and per turn the ratings and the vote alongside;
* ``csv``: one row per rated response, flat columns;
* ``dpo``: TRL's conversational preference form ``{"prompt": [messages], "chosen":
  [{"role": "assistant", ...}], "rejected": [...]}``; the prompt is the turn's system prompt and
  user message (each side had its own earlier answers, so earlier turns are not a shared
  context); ties, errors and empty answers are not pairs;
* ``fastchat``: the cleaned battle log, ``question_id, model_a, model_b, winner, judge,
  conversation_a, conversation_b, turn, anony, language, tstamp``.

Rows are streamed from the database (``yield_per``), so memory does not grow with it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import select

from playground.stats.data import Filters, response_conditions, vote_conditions
from playground.store.database import Database
from playground.store.tables import Conversation, Rater, Rating, Response, Turn, Vote

FORMATS = ("jsonl", "csv", "dpo", "fastchat")
CSV_COLUMNS = [
    "rating_id", "conversation_id", "turn_id", "turn", "side", "model", "prompt", "system_prompt",
    "category", "response", "reasoning", "status", "finish_reason", "accuracy", "fluency", "comment", "rater",
    "winner", "blind", "ttft_s", "tpot_s", "tokens_per_s", "output_tokens", "rated_at",
]
BATCH = 2000


@dataclass
class ExportCounts:
    written: int = 0
    skipped: int = 0


# Plain columns rather than ORM objects: building four entities per row would cost more than
# the whole rest of the export.
RATED_RESPONSE_COLUMNS = (
    Rating.id.label("rating_id"), Rating.accuracy, Rating.fluency, Rating.comment,  # type: ignore[union-attr]
    Rating.updated_at.label("rated_at"), Response.side, Response.model, Response.text.label("response"),
    Response.reasoning, Response.status, Response.finish_reason, Response.ttft_s, Response.tpot_s,
    Response.tokens_per_s, Response.output_tokens, Turn.id.label("turn_id"), Turn.position,  # type: ignore[union-attr]
    Turn.prompt, Turn.system_prompt, Turn.blind, Turn.category, Turn.conversation_id,
    Conversation.mode, Rater.name.label("rater"), Vote.winner,
)


async def _rated_responses(db: Database, filters: Filters) -> AsyncIterator[Any]:
    """One row per rating, grouped by conversation, side and rater, turns in order."""
    query = (
        select(*RATED_RESPONSE_COLUMNS)
        .join(Response, Response.id == Rating.response_id)
        .join(Turn, Turn.id == Response.turn_id)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .join(Rater, Rater.id == Rating.rater_id)
        .outerjoin(Vote, and_(Vote.turn_id == Turn.id, Vote.rater_id == Rating.rater_id))
        .where(and_(True, *response_conditions(filters)))
        .order_by(Turn.conversation_id, Response.side, Rater.name, Turn.position)
        .execution_options(yield_per=BATCH)
    )
    async with db.sessions() as session:
        result = await session.stream(query)
        # Whole partitions: iterating row by row would cross into the driver's greenlet per row.
        async for partition in result.partitions(BATCH):
            for row in partition:
                yield row


def _side_columns(alias: Any, side: str) -> list[Any]:
    return [alias.model.label(f"{side}_model"), alias.text.label(f"{side}_text"),
            alias.status.label(f"{side}_status")]


async def _votes(db: Database, filters: Filters) -> AsyncIterator[Any]:
    """Votes with their turn and both answers, in the order they were cast."""
    side_a, side_b = aliased(Response), aliased(Response)
    query = (
        select(
            Vote.id, Vote.winner, Vote.model_a, Vote.model_b, Vote.blind, Vote.created_at,
            Turn.id.label("turn_id"), Turn.position, Turn.prompt, Turn.system_prompt,  # type: ignore[union-attr]
            Rater.name.label("rater"), *_side_columns(side_a, "a"), *_side_columns(side_b, "b"),
        )
        .join(Turn, Turn.id == Vote.turn_id)
        .join(Rater, Rater.id == Vote.rater_id)
        .outerjoin(side_a, and_(side_a.turn_id == Turn.id, side_a.side == "a"))
        .outerjoin(side_b, and_(side_b.turn_id == Turn.id, side_b.side == "b"))
        .where(and_(True, *vote_conditions(filters)))
        .order_by(Vote.created_at, Vote.id)
        .execution_options(yield_per=BATCH)
    )
    async with db.sessions() as session:
        result = await session.stream(query)
        # Whole partitions: iterating row by row would cross into the driver's greenlet per row.
        async for partition in result.partitions(BATCH):
            for row in partition:
                yield row


async def export(db: Database, fmt: str, out: IO[str], filters: Filters) -> ExportCounts:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return await {"jsonl": _jsonl, "csv": _csv, "dpo": _dpo, "fastchat": _fastchat}[fmt](db, out, filters)


async def _csv(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    async for row in _rated_responses(db, filters):
        line = row._mapping
        writer.writerow([
            row.position + 1 if column == "turn" else row.rated_at.isoformat() if column == "rated_at"
            else line[column]
            for column in CSV_COLUMNS
        ])
        counts.written += 1
    return counts


async def _jsonl(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    current: dict[str, Any] | None = None
    key: tuple[str, str, str] | None = None

    def flush() -> None:
        if current is not None:
            out.write(json.dumps(current, ensure_ascii=False) + "\n")
            counts.written += 1

    async for row in _rated_responses(db, filters):
        if key != (row.conversation_id, row.side, row.rater):
            flush()
            key = (row.conversation_id, row.side, row.rater)
            current = {
                "messages": [], "conversation_id": row.conversation_id, "side": row.side,
                "model": row.model, "mode": row.mode, "rater": row.rater, "turns": [],
            }
        assert current is not None
        if row.system_prompt and not current["messages"]:
            current["messages"].append({"role": "system", "content": row.system_prompt})
        current["messages"] += [
            {"role": "user", "content": row.prompt},
            {"role": "assistant", "content": row.response},
        ]
        current["turns"].append({
            "turn": row.position + 1, "turn_id": row.turn_id, "category": row.category,
            "status": row.status, "accuracy": row.accuracy, "fluency": row.fluency,
            "comment": row.comment, "winner": row.winner, "blind": row.blind,
            "ttft_s": row.ttft_s, "tokens_per_s": row.tokens_per_s,
        })
    flush()
    return counts


async def _dpo(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    async for row in _votes(db, filters):
        if row.winner not in ("model_a", "model_b") or row.a_text is None or row.b_text is None:
            counts.skipped += 1  # ties are not pairs; a turn missing a side cannot be one
            continue
        chosen, rejected = ("a", "b") if row.winner == "model_a" else ("b", "a")
        texts = {"a": row.a_text, "b": row.b_text}
        statuses = {"a": row.a_status, "b": row.b_status}
        if statuses[chosen] == "error" or not texts[chosen].strip() or not texts[rejected].strip():
            counts.skipped += 1  # an empty or failed answer teaches nothing
            continue
        prompt = ([{"role": "system", "content": row.system_prompt}] if row.system_prompt else []) + [
            {"role": "user", "content": row.prompt}
        ]
        models = {"a": row.a_model, "b": row.b_model}
        out.write(json.dumps({
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": texts[chosen]}],
            "rejected": [{"role": "assistant", "content": texts[rejected]}],
            "chosen_model": models[chosen], "rejected_model": models[rejected], "turn_id": row.turn_id,
        }, ensure_ascii=False) + "\n")
        counts.written += 1
    return counts


async def _fastchat(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    async for row in _votes(db, filters):
        if row.a_text is None or row.b_text is None:
            counts.skipped += 1
            continue
        conversation = {
            side: [{"role": "user", "content": row.prompt}, {"role": "assistant", "content": text}]
            for side, text in (("a", row.a_text), ("b", row.b_text))
        }
        out.write(json.dumps({
            "question_id": str(row.turn_id), "model_a": row.model_a, "model_b": row.model_b,
            "winner": row.winner, "judge": row.rater, "conversation_a": conversation["a"],
            "conversation_b": conversation["b"], "turn": row.position + 1, "anony": row.blind,
            "language": "unknown", "tstamp": row.created_at.timestamp(),
        }, ensure_ascii=False) + "\n")
        counts.written += 1
    return counts
