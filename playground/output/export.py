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

Documents a turn sent (turn_documents) are never dropped: every format names them (ids and names)
with each side's context budget (CONTEXT_FIELDS: the policy, the window, the prompt's tokens whole
and as sent, the note, the prefix-cache hits), and ``documents="embed"`` (jsonl, dpo, fastchat)
puts their text where the app put it, before the conversation's first question, instead of
referring to them by id. Each side may have been sent a cut copy; its counts and note say what it
got.

Rows are streamed from the database (``yield_per``), so memory does not grow with it, and read
by column name: each query is built from a NamedTuple's fields, so a column added or moved
cannot shift another one's values.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import IO, Any, NamedTuple

import orjson
from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playground.core.vocabulary import A_WINS, B_WINS, SIDES, FinalStatus, Mode, Side, Winner
from playground.evalsets.documents import render_documents
from playground.store.database import Database
from playground.store.report_queries import Filters, response_conditions, vote_conditions
from playground.store.tables import Conversation, Document, Rater, Rating, Response, Turn, TurnDocument, Vote

FORMATS = ("jsonl", "csv", "dpo", "fastchat")
# What a turn's documents become: referred to by id (a list of them beside the messages), or their
# text put before the question as the models received it. CSV refers only (a cell per document
# text would make the file unusable in a spreadsheet).
DOCUMENT_MODES = ("reference", "embed")
REFERENCE, EMBED = DOCUMENT_MODES
# One side's context budget as stored with its answer (None when the turn had no document or the
# backend did not report it); prompt_tokens is the server's own count.
CONTEXT_FIELDS = ("prompt_tokens", "context_policy", "context_window", "prompt_tokens_full",
                  "prompt_tokens_sent", "context_note", "cached_tokens")
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
    prompt_tokens: int | None
    context_policy: str | None
    context_window: int | None
    prompt_tokens_full: int | None
    prompt_tokens_sent: int | None
    context_note: str | None
    cached_tokens: int | None


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
    **{name: getattr(Response, name) for name in CONTEXT_FIELDS},
}


def _columns(row_type: type[NamedTuple], sources: dict[str, Any]) -> list[Any]:
    """The SELECT list of a row type: its fields' columns, in its order, labelled by name."""
    return [sources[name].label(name) for name in row_type._fields]


async def _partitions(query: Any, db: Database) -> AsyncGenerator[Sequence[Any], None]:
    async with db.reading() as session:
        # On the connection (Core), not the session: the rows are plain columns, and the ORM's
        # per-row loading step would cost more than a column per row does.
        connection = await session.connection()
        result = await connection.stream(query.execution_options(yield_per=BATCH))
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
    # Each side's context budget (CONTEXT_FIELDS), "a_" for the left side and "b_" for the right.
    a_prompt_tokens: int | None
    a_context_policy: str | None
    a_context_window: int | None
    a_prompt_tokens_full: int | None
    a_prompt_tokens_sent: int | None
    a_context_note: str | None
    a_cached_tokens: int | None
    b_prompt_tokens: int | None
    b_context_policy: str | None
    b_context_window: int | None
    b_prompt_tokens_full: int | None
    b_prompt_tokens_sent: int | None
    b_context_note: str | None
    b_cached_tokens: int | None


def _votes(db: Database, filters: Filters) -> AsyncGenerator[Sequence[Any], None]:
    """Batches of rows in VoteRow's columns, in the order the votes were cast."""
    side_a, side_b = aliased(Response), aliased(Response)
    sources = {
        "vote_id": Vote.id, "winner": Vote.winner, "model_a": Vote.model_a, "model_b": Vote.model_b,
        "blind": Vote.blind, "created_at": Vote.created_at, "turn_id": Turn.id, "position": Turn.position,
        "prompt": Turn.prompt, "system_prompt": Turn.system_prompt, "rater": Rater.name,
        "a_model": side_a.model, "a_text": side_a.text, "a_status": side_a.status,
        "b_model": side_b.model, "b_text": side_b.text, "b_status": side_b.status,
        **{f"{side}_{name}": getattr(response, name) for side, response in (("a", side_a), ("b", side_b))
           for name in CONTEXT_FIELDS},
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


class DocumentRef(NamedTuple):
    """A document a turn sent, as the exports name it (the text is read only to embed it)."""

    id: str  # SHA-256 of the file's bytes
    name: str
    kind: str
    size_bytes: int
    pages: int | None


class StoredText(NamedTuple):
    id: str
    text: str


class NamedDocument(NamedTuple):
    """What render_documents needs of a document."""

    name: str
    text: str


DOCUMENT_SOURCES: dict[str, Any] = {name: getattr(Document, name) for name in DocumentRef._fields}
STORED_TEXT_SOURCES: dict[str, Any] = {"id": Document.id, "text": Document.text}
# Texts kept between batches when embedding: a document asked about again and again is read
# once, and memory stays bounded however many documents there are.
TEXT_CACHE = 16


def documents_block(refs: list[DocumentRef], texts: dict[str, str]) -> str:
    """The documents as the app puts them before the first question of a conversation: the same
    render_documents, then a blank line (playground/arena/duel.py, Contender.messages_for)."""
    return render_documents([NamedDocument(ref.name, texts[ref.id]) for ref in refs]) + "\n\n"


@dataclass(frozen=True)
class TurnDocuments:
    """The documents of some turns: turn id -> the documents it sent, in the order they were put
    before the question, and (embedding only) their texts."""

    refs: dict[int, list[DocumentRef]]
    texts: dict[str, str]
    embed: bool

    def of(self, turn_id: int) -> list[DocumentRef]:
        return self.refs.get(turn_id, [])

    def user_message(self, question: str, refs: list[DocumentRef]) -> dict[str, str]:
        """A turn's question on its own (dpo, fastchat): after its documents when embedding, as
        the model received them before its conversation's first question."""
        if not (self.embed and refs):
            return {"role": "user", "content": question}
        return {"role": "user", "content": documents_block(refs, self.texts) + question}


class _Documents:
    """Reads the documents of each batch's turns in one query, on a session of its own (the
    export's rows are streaming on another)."""

    def __init__(self, session: AsyncSession, embed: bool) -> None:
        self.session = session
        self.embed = embed
        self._texts: dict[str, str] = {}
        self._any: bool | None = None  # does any turn have a document? (asked on the first batch)

    async def of_turns(self, turn_ids: Iterable[int]) -> TurnDocuments:
        if self._any is None:
            # Asked once, after the export's rows started streaming: this session's reads then see
            # every turn those rows can hold. Without any document, the batches need no query.
            self._any = (await self.session.exec(select(TurnDocument.id).limit(1))).first() is not None
        if not self._any:
            return TurnDocuments({}, {}, self.embed)
        ids = list(set(turn_ids))
        refs: dict[int, list[DocumentRef]] = {}
        for start in range(0, len(ids), BATCH):  # bound the IN list, whatever the caller passes
            query = (
                select(col(TurnDocument.turn_id).label("turn_id"), *_columns(DocumentRef, DOCUMENT_SOURCES))
                .join(Document, col(Document.id) == TurnDocument.document_id)
                .where(col(TurnDocument.turn_id).in_(ids[start:start + BATCH]))
                .order_by(col(TurnDocument.turn_id), col(TurnDocument.position), col(TurnDocument.id))
            )
            for row in (await self.session.exec(query)).all():
                refs.setdefault(row.turn_id, []).append(DocumentRef._make(getattr(row, f) for f in DocumentRef._fields))
        texts = await self.texts({ref.id for found in refs.values() for ref in found}) if self.embed else {}
        return TurnDocuments(refs, texts, self.embed)

    async def texts(self, ids: Iterable[str]) -> dict[str, str]:
        """Document id -> text, read unless cached."""
        wanted = set(ids)
        missing = wanted - set(self._texts)
        if missing:
            query = select(*_columns(StoredText, STORED_TEXT_SOURCES)).where(col(Document.id).in_(missing))
            rows = [StoredText._make(row) for row in (await self.session.exec(query)).all()]
            if len(self._texts) + len(rows) > TEXT_CACHE:
                self._texts = {key: text for key, text in self._texts.items() if key in wanted}
            self._texts.update({row.id: row.text for row in rows})
        return {key: self._texts[key] for key in wanted}


@asynccontextmanager
async def _documents(db: Database, mode: str) -> AsyncIterator[_Documents]:
    async with db.reading() as session:
        yield _Documents(session, embed=mode == EMBED)


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
    async with _documents(db, documents) as lookup:
        return await writer(db, out, filters, lookup)


# Where each CSV column comes from in RatedResponse ("turn" is the 1-based position).
_CSV_SOURCE = {"turn": "position"}
_NO_DOCUMENTS = ("", "")


def _json_cell(values: list[str]) -> str:
    return orjson.dumps(values).decode()


async def _csv(db: Database, out: IO[str], filters: Filters, lookup: _Documents) -> ExportCounts:
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
    async for rows in _rated_responses(db, filters):
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


class EarlierTurn(NamedTuple):
    turn_id: int
    position: int
    system_prompt: str
    prompt: str
    answer: str
    prompt_tokens: int | None
    context_policy: str | None
    context_window: int | None
    prompt_tokens_full: int | None
    prompt_tokens_sent: int | None
    context_note: str | None
    cached_tokens: int | None


EARLIER_TURN_SOURCES: dict[str, Any] = {
    "turn_id": Turn.id, "position": Turn.position, "system_prompt": Turn.system_prompt, "prompt": Turn.prompt,
    "answer": Response.text, **{name: getattr(Response, name) for name in CONTEXT_FIELDS},
}


async def _earlier_turns(db: Database, conversation_id: str, side: str, last: int) -> list[EarlierTurn]:
    """One side's turns up to ``last``, in order."""
    query = (
        select(*_columns(EarlierTurn, EARLIER_TURN_SOURCES))
        .join(Response, col(Response.turn_id) == Turn.id)
        .where(Turn.conversation_id == conversation_id, Response.side == side, Turn.position <= last)
        .order_by(col(Turn.position))
    )
    async with db.reading() as session:
        return [EarlierTurn._make(row) for row in (await session.exec(query)).all()]


def _context(row: RatedResponse | EarlierTurn) -> dict[str, Any]:
    """A side's context budget, by field name."""
    return {name: getattr(row, name) for name in CONTEXT_FIELDS}


async def _jsonl(db: Database, out: IO[str], filters: Filters, lookup: _Documents) -> ExportCounts:
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
            turns = await _earlier_turns(db, current["conversation_id"], current["side"], max(positions))
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
    async for rows in _rated_responses(db, filters):
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


async def _dpo(db: Database, out: IO[str], filters: Filters, lookup: _Documents) -> ExportCounts:
    counts = ExportCounts()
    turn_id = VoteRow._fields.index("turn_id")
    async for rows in _votes(db, filters):
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


async def _fastchat(db: Database, out: IO[str], filters: Filters, lookup: _Documents) -> ExportCounts:
    counts = ExportCounts()
    turn_id = VoteRow._fields.index("turn_id")
    async for rows in _votes(db, filters):
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
            if _has_context(v, refs):
                battle["documents"] = _named(refs)
                battle["metadata"] = {side: _side_context(v, side) for side in SIDES}
            out.write(_line(battle))
            counts.written += 1
    return counts
