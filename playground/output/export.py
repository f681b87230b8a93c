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
  the epoch of the vote, UTC) and ``conv_metadata`` (conv_metadata below: the style features
  FastChat's style control reads).

Documents a turn sent (turn_documents) are never dropped: every format names them (ids and names)
with each side's context budget (CONTEXT_FIELDS: the policy, the window, the prompt's tokens whole
and as sent, the note, the prefix-cache hits), and ``documents="embed"`` (jsonl, dpo, fastchat)
puts their text where the app put it, before the conversation's first question, instead of
referring to them by id. Each side may have been sent a cut copy; its counts and note say what it
got.

Rows are streamed from the database (``yield_per``), so memory does not grow with it, and read
by column name: each query is built from a NamedTuple's fields, so a column added or moved
cannot shift another one's values. The queries are in playground/store/export_queries.py.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import IO, Any

import orjson

from playground.core.answer_style import markdown_counts
from playground.core.vocabulary import A_WINS, B_WINS, SIDES, FinalStatus, Side
from playground.store.database import Database
from playground.store.export_queries import (
    CONTEXT_FIELDS,
    DOCUMENT_MODES,
    EMBED,
    REFERENCE,
    DocumentLookup,
    DocumentRef,
    EarlierTurn,
    RatedResponse,
    TurnDocuments,
    VoteRow,
    document_lookup,
    documents_block,
    earlier_turns,
    rated_responses,
    votes_of,
)
from playground.store.report_filters import Filters

FORMATS = ("jsonl", "csv", "dpo", "fastchat")
# A turn's documents (DOCUMENT_MODES): CSV refers to them only (a cell per document text would make
# the file unusable in a spreadsheet).
# The document columns of the CSV: JSON arrays (a name may hold any character), empty without one.
CSV_DOCUMENT_COLUMNS = ["document_ids", "document_names"]
# New columns go after the old ones: a reader that picks columns by position keeps working.
CSV_COLUMNS = [
    "rating_id", "conversation_id", "turn_id", "turn", "side", "model", "prompt", "system_prompt",
    "category", "response", "reasoning", "status", "finish_reason", "accuracy", "fluency", "comment", "rater",
    "winner", "blind", "ttft_s", "tpot_s", "tokens_per_s", "output_tokens", "rated_at", *CONTEXT_FIELDS,
    *CSV_DOCUMENT_COLUMNS,
]
# Cells with free text (typed by raters or written by models, or a note quoting a server's error):
# the ones a formula can hide in. The others are ids, numbers, dates, words of core.vocabulary and
# JSON arrays.
CSV_TEXT_COLUMNS = ("model", "prompt", "system_prompt", "category", "response", "reasoning", "comment", "rater",
                    "context_note")
# What makes a spreadsheet read a cell as a formula (OWASP, CSV injection): such a cell is written
# with a leading single quote, which spreadsheets show as text.
FORMULA_STARTS = "=+-@\t\r"
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


def _named(refs: list[DocumentRef]) -> list[dict[str, str]]:
    return [{"id": ref.id, "name": ref.name} for ref in refs]


async def export(db: Database, fmt: str, out: IO[str], filters: Filters, documents: str = REFERENCE) -> ExportCounts:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if documents not in DOCUMENT_MODES:
        raise ValueError(f"unknown documents mode {documents!r}: use one of {', '.join(DOCUMENT_MODES)}")
    if fmt == "csv" and documents == EMBED:
        raise ValueError("csv refers to documents by id and name only: embed them with jsonl, dpo or fastchat")
    writer = {"jsonl": _jsonl, "csv": _csv, "dpo": _dpo, "fastchat": _fastchat}[fmt]
    async with document_lookup(db, documents) as lookup:
        return await writer(db, out, filters, lookup)


# Where each CSV column comes from in RatedResponse ("turn" is the 1-based position).
_CSV_SOURCE = {"turn": "position"}
_NO_DOCUMENTS = ("", "")


def _json_cell(values: list[str]) -> str:
    return orjson.dumps(values).decode()


async def _csv(db: Database, out: IO[str], filters: Filters, lookup: DocumentLookup) -> ExportCounts:
    counts = ExportCounts()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    # Columns picked by name, their indices worked out once: every row is then read by index (the
    # cheapest way through a million rows, cheaper than a NamedTuple per row), never by an index
    # written by hand. The document columns come from the batch's lookup, after the others.
    fields = RatedResponse._fields
    stored = CSV_COLUMNS[:-len(CSV_DOCUMENT_COLUMNS)]
    pick = itemgetter(*(fields.index(_CSV_SOURCE.get(column, column)) for column in stored))
    turn, rated_at = CSV_COLUMNS.index("turn"), CSV_COLUMNS.index("rated_at")
    texts = [CSV_COLUMNS.index(column) for column in CSV_TEXT_COLUMNS]
    turn_id = fields.index("turn_id")
    starts = FORMULA_STARTS
    async for rows in rated_responses(db, filters):
        documents = await lookup.of_turns(row[turn_id] for row in rows)
        cells = {tid: (_json_cell([r.id for r in refs]), _json_cell([r.name for r in refs]))
                 for tid, refs in documents.refs.items()}
        for row in rows:
            line = list(pick(row))
            line[turn] += 1
            when = line[rated_at]
            # The same text as _utc(when).isoformat(), without building a second datetime per row.
            line[rated_at] = when.isoformat() + "+00:00" if when.tzinfo is None else when.isoformat()
            for i in texts:
                text = line[i]
                if text and text[0] in starts:  # inline, not a call: it runs for 9 cells of every row
                    line[i] = "'" + text
            line += cells.get(row[turn_id], _NO_DOCUMENTS)
            writer.writerow(line)
        counts.written += len(rows)
    return counts


def _context(row: RatedResponse | EarlierTurn) -> dict[str, Any]:
    """A side's context budget, by field name."""
    return {name: getattr(row, name) for name in CONTEXT_FIELDS}


async def _jsonl(db: Database, out: IO[str], filters: Filters, lookup: DocumentLookup) -> ExportCounts:
    """One line per conversation side and rater: the transcript up to the last rated turn, with
    the ratings per turn alongside (an unrated earlier turn is in the messages, as the model saw
    it, and in ``turns`` with ``rated`` false). Every document of the transcript is listed once
    in ``documents``; each turn names the ones that preceded its question."""
    counts = ExportCounts()
    current: dict[str, Any] | None = None
    listed: dict[str, DocumentRef] = {}  # the transcript's documents, in the order first sent
    key: tuple[str, str, str] | None = None

    def add_turn(question: str, answer: str, turn_id: int, documents: TurnDocuments) -> list[str]:
        assert current is not None
        refs = documents.of(turn_id)
        current["messages"] += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        for ref in refs:
            listed.setdefault(ref.id, ref)
        return [ref.id for ref in refs]

    async def embed_documents() -> None:
        """The documents the transcript's last turn sent, before its first question: where the app
        put them for that turn (earlier turns had the same or fewer)."""
        assert current is not None
        last = [listed[i] for i in current["turns"][-1]["documents"]]
        if last:
            first = next(m for m in current["messages"] if m["role"] == "user")
            first["content"] = documents_block(last, await lookup.texts(ref.id for ref in last)) + first["content"]

    async def flush() -> None:
        if current is None:
            return
        positions = [t["turn"] - 1 for t in current["turns"]]
        if positions != list(range(len(positions))):
            # Unrated turns before a rated one: fetch them, so the transcript has the context the
            # model had (rare: raters usually rate every turn, so this costs little).
            rated = {t["turn"] - 1: t for t in current["turns"]}
            turns = await earlier_turns(db, current["conversation_id"], current["side"], max(positions))
            documents = await lookup.of_turns(turn.turn_id for turn in turns)
            system = turns[0].system_prompt if turns else ""
            current["messages"] = [{"role": "system", "content": system}] if system else []
            current["turns"] = []
            listed.clear()
            for turn in turns:
                ids = add_turn(turn.prompt, turn.answer, turn.turn_id, documents)
                current["turns"].append(rated.get(turn.position) or {
                    "turn": turn.position + 1, "rated": False, "turn_id": turn.turn_id, "documents": ids,
                    **_context(turn)})
        if listed:
            current["documents"] = [ref._asdict() for ref in listed.values()]
            if lookup.embed:
                await embed_documents()
        out.write(_line(current))
        counts.written += 1

    turn_id = RatedResponse._fields.index("turn_id")
    async for rows in rated_responses(db, filters):
        documents = await lookup.of_turns(row[turn_id] for row in rows)
        for r in map(RatedResponse._make, rows):
            if key != (r.conversation_id, r.side, r.rater):
                await flush()
                key = (r.conversation_id, r.side, r.rater)
                listed.clear()
                current = {"messages": [], "conversation_id": r.conversation_id, "side": r.side, "model": r.model,
                           "mode": r.mode, "rater": r.rater, "documents": [], "documents_embedded": lookup.embed,
                           "turns": []}
                if r.system_prompt:
                    current["messages"].append({"role": "system", "content": r.system_prompt})
            assert current is not None
            if r.turn_id in documents.refs:
                ids = add_turn(r.prompt, r.response, r.turn_id, documents)
            else:  # the common case, written out: it runs for every row
                ids = []
                current["messages"] += [{"role": "user", "content": r.prompt},
                                        {"role": "assistant", "content": r.response}]
            # The context fields written out rather than looped over CONTEXT_FIELDS (the same names),
            # for speed; the tests compare the two.
            current["turns"].append({
                "turn": r.position + 1, "rated": True, "turn_id": r.turn_id, "category": r.category,
                "status": r.status, "accuracy": r.accuracy, "fluency": r.fluency, "comment": r.comment,
                "winner": r.winner, "blind": r.blind, "ttft_s": r.ttft_s, "tokens_per_s": r.tokens_per_s,
                "documents": ids, "prompt_tokens": r.prompt_tokens, "context_policy": r.context_policy,
                "context_window": r.context_window, "prompt_tokens_full": r.prompt_tokens_full,
                "prompt_tokens_sent": r.prompt_tokens_sent, "context_note": r.context_note,
                "cached_tokens": r.cached_tokens,
            })
    await flush()
    return counts


def _side_context(vote: VoteRow, side: Side) -> dict[str, Any]:
    """One side's context budget from a vote row, by field name ("a_context_note" ...)."""
    return {name: getattr(vote, f"{side}_{name}") for name in CONTEXT_FIELDS}


# Context fields that only a turn with a document (or a server reporting its cache) has: a vote
# row whose sides have none of them and whose turn has no document is written as the plain format.
_BUDGET_FIELDS = [f"{side}_{name}" for side in SIDES for name in CONTEXT_FIELDS if name != "prompt_tokens"]
_budget = attrgetter(*_BUDGET_FIELDS)
_NO_BUDGET = (None,) * len(_BUDGET_FIELDS)


def _has_context(vote: VoteRow, refs: list[DocumentRef]) -> bool:
    # One tuple comparison (in C) rather than a test per field: it runs for every vote.
    return bool(refs) or _budget(vote) != _NO_BUDGET


async def _dpo(db: Database, out: IO[str], filters: Filters, lookup: DocumentLookup) -> ExportCounts:
    counts = ExportCounts()
    turn_id = VoteRow._fields.index("turn_id")
    async for rows in votes_of(db, filters):
        documents = await lookup.of_turns(row[turn_id] for row in rows)
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
            refs = documents.of(v.turn_id)
            messages = [{"role": "system", "content": v.system_prompt}] if v.system_prompt else []
            messages.append(documents.user_message(v.prompt, refs) if refs else {"role": "user", "content": v.prompt})
            pair: dict[str, Any] = {
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "chosen_model": v.a_model if a_won else v.b_model,
                "rejected_model": v.b_model if a_won else v.a_model,
                "turn_id": v.turn_id,
            }
            if _has_context(v, refs):
                won, lost = (LEFT, RIGHT) if a_won else (RIGHT, LEFT)
                pair["documents"] = _named(refs)
                pair["metadata"] = {"chosen": {"side": won, **_side_context(v, won)},
                                    "rejected": {"side": lost, **_side_context(v, lost)}}
            out.write(_line(pair))
            counts.written += 1
    return counts


def conv_metadata(v: VoteRow) -> dict[str, Any]:
    """FastChat's style metadata of a battle (lmarena's names and shapes): each side's output
    tokens, and its markdown counted with FastChat's regexes (code blocks left out): headers by
    level h1..h6, list items ordered/unordered, bold spans ``**``/``__``; then the turn count
    and each side's prompt tokens (sent, else reported; 0 when unknown)."""
    a, b = markdown_counts(v.a_text or ""), markdown_counts(v.b_text or "")
    return {
        "sum_assistant_a_tokens": int(v.a_output_tokens or 0), "sum_assistant_b_tokens": int(v.b_output_tokens or 0),
        "header_count_a": a.header, "header_count_b": b.header,
        "list_count_a": a.list, "list_count_b": b.list,
        "bold_count_a": a.bold, "bold_count_b": b.bold,
        "turns": v.position + 1,
        "context_a_tokens": int(v.a_prompt_tokens_sent or v.a_prompt_tokens or 0),
        "context_b_tokens": int(v.b_prompt_tokens_sent or v.b_prompt_tokens or 0),
    }


async def _fastchat(db: Database, out: IO[str], filters: Filters, lookup: DocumentLookup) -> ExportCounts:
    counts = ExportCounts()
    turn_id = VoteRow._fields.index("turn_id")
    async for rows in votes_of(db, filters):
        documents = await lookup.of_turns(row[turn_id] for row in rows)
        for v in map(VoteRow._make, rows):
            if v.a_text is None or v.b_text is None:
                counts.skipped += 1
                continue
            refs = documents.of(v.turn_id)
            question = documents.user_message(v.prompt, refs) if refs else {"role": "user", "content": v.prompt}
            battle: dict[str, Any] = {
                "question_id": str(v.turn_id), "model_a": v.model_a, "model_b": v.model_b, "winner": v.winner,
                "judge": v.rater, "conversation_a": [question, {"role": "assistant", "content": v.a_text}],
                "conversation_b": [question, {"role": "assistant", "content": v.b_text}],
                "turn": v.position + 1, "anony": v.blind, "language": "unknown",
                "tstamp": _utc(v.created_at).timestamp(),
            }
            battle["conv_metadata"] = conv_metadata(v)
            if _has_context(v, refs):
                battle["documents"] = _named(refs)
                battle["metadata"] = {side: _side_context(v, side) for side in SIDES}
            out.write(_line(battle))
            counts.written += 1
    return counts
