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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import select

from playground.store.report_queries import Filters, response_conditions, vote_conditions
from playground.store.database import Database
from playground.store.tables import Conversation, Rater, Rating, Response, Turn, Vote

FORMATS = ("jsonl", "csv", "dpo", "fastchat")
CSV_COLUMNS = [
    "rating_id", "conversation_id", "turn_id", "turn", "side", "model", "prompt", "system_prompt",
    "category", "response", "reasoning", "status", "finish_reason", "accuracy", "fluency", "comment", "rater",
    "winner", "blind", "ttft_s", "tpot_s", "tokens_per_s", "output_tokens", "rated_at",
]
BATCH = 2000


def _line(document: dict[str, Any]) -> str:
    # orjson: several times faster than json.dumps, and UTF-8 as is (no \u escapes).
    return orjson.dumps(document).decode() + "\n"


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
    """Batches of rows, one row per rating, grouped by conversation, side and rater, turns in order."""
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
    async with db.reading() as session:
        result = await session.stream(query)
        # Whole partitions: iterating row by row would cross into the driver's greenlet per row.
        async for partition in result.partitions(BATCH):
            yield partition


def _side_columns(alias: Any, side: str) -> list[Any]:
    return [alias.model.label(f"{side}_model"), alias.text.label(f"{side}_text"),
            alias.status.label(f"{side}_status")]


async def _votes(db: Database, filters: Filters) -> AsyncIterator[Any]:
    """Batches of votes with their turn and both answers, in the order they were cast."""
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
    async with db.reading() as session:
        result = await session.stream(query)
        # Whole partitions: iterating row by row would cross into the driver's greenlet per row.
        async for partition in result.partitions(BATCH):
            yield partition


async def export(db: Database, fmt: str, out: IO[str], filters: Filters) -> ExportCounts:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return await {"jsonl": _jsonl, "csv": _csv, "dpo": _dpo, "fastchat": _fastchat}[fmt](db, out, filters)


async def _csv(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    names = [c.key for c in RATED_RESPONSE_COLUMNS]
    picks = [names.index(column) if column in names else None for column in CSV_COLUMNS]
    turn, rated_at = CSV_COLUMNS.index("turn"), CSV_COLUMNS.index("rated_at")
    position, when = names.index("position"), names.index("rated_at")
    async for rows in _rated_responses(db, filters):
        for row in rows:
            line = [None if i is None else row[i] for i in picks]
            line[turn] = row[position] + 1
            line[rated_at] = row[when].isoformat()
            writer.writerow(line)
        counts.written += len(rows)
    return counts


async def _earlier_turns(db: Database, conversation_id: str, side: str, last: int) -> list[tuple[int, str, str, str]]:
    """(position, system prompt, prompt, answer) of one side's turns up to ``last``."""
    query = (
        select(Turn.position, Turn.system_prompt, Turn.prompt, Response.text)
        .join(Response, Response.turn_id == Turn.id)
        .where(Turn.conversation_id == conversation_id, Response.side == side, Turn.position <= last)
        .order_by(Turn.position)
    )
    async with db.reading() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


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
            rows = await _earlier_turns(db, current["conversation_id"], current["side"], max(positions))
            current["messages"] = [{"role": "system", "content": rows[0][1]}] if rows and rows[0][1] else []
            current["turns"] = []
            for position, _, prompt, answer in rows:
                current["messages"] += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
                current["turns"].append(rated.get(position, {"turn": position + 1, "rated": False}))
        out.write(_line(current))
        counts.written += 1

    async for rows in _rated_responses(db, filters):
        for row in rows:
            # Positional unpacking: the fastest way through a million rows (same order as
            # RATED_RESPONSE_COLUMNS).
            (_, accuracy, fluency, comment, _, side, model, response, _, status, _, ttft_s, _,
             tokens_per_s, _, turn_id, position, prompt, system_prompt, blind, category,
             conversation_id, mode, rater, winner) = row
            if key != (conversation_id, side, rater):
                await flush()
                key = (conversation_id, side, rater)
                current = {"messages": [], "conversation_id": conversation_id, "side": side, "model": model,
                           "mode": mode, "rater": rater, "turns": []}
                if system_prompt:
                    current["messages"].append({"role": "system", "content": system_prompt})
            assert current is not None
            current["messages"] += [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            current["turns"].append({
                "turn": position + 1, "rated": True, "turn_id": turn_id, "category": category, "status": status,
                "accuracy": accuracy, "fluency": fluency, "comment": comment, "winner": winner,
                "blind": blind, "ttft_s": ttft_s, "tokens_per_s": tokens_per_s,
            })
    await flush()
    return counts


async def _dpo(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    async for rows in _votes(db, filters):
        for row in rows:
            (_, winner, _, _, _, _, turn_id, _, prompt, system_prompt, _,
             a_model, a_text, a_status, b_model, b_text, b_status) = row
            if winner not in ("model_a", "model_b") or a_text is None or b_text is None:
                counts.skipped += 1  # ties are not pairs; a turn missing a side cannot be one
                continue
            chosen, rejected = (a_text, b_text) if winner == "model_a" else (b_text, a_text)
            chosen_status = a_status if winner == "model_a" else b_status
            if chosen_status == "error" or not chosen.strip() or not rejected.strip():
                counts.skipped += 1  # an empty or failed answer teaches nothing
                continue
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            messages.append({"role": "user", "content": prompt})
            out.write(_line({
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "chosen_model": a_model if winner == "model_a" else b_model,
                "rejected_model": b_model if winner == "model_a" else a_model,
                "turn_id": turn_id,
            }))
            counts.written += 1
    return counts


async def _fastchat(db: Database, out: IO[str], filters: Filters) -> ExportCounts:
    counts = ExportCounts()
    async for rows in _votes(db, filters):
        for row in rows:
            (_, winner, model_a, model_b, blind, created_at, turn_id, position, prompt, _, rater,
             _, a_text, _, _, b_text, _) = row
            if a_text is None or b_text is None:
                counts.skipped += 1
                continue
            question = {"role": "user", "content": prompt}
            out.write(_line({
                "question_id": str(turn_id), "model_a": model_a, "model_b": model_b, "winner": winner,
                "judge": rater, "conversation_a": [question, {"role": "assistant", "content": a_text}],
                "conversation_b": [question, {"role": "assistant", "content": b_text}],
                "turn": position + 1, "anony": blind, "language": "unknown", "tstamp": created_at.timestamp(),
            }))
            counts.written += 1
    return counts
