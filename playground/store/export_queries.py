"""The rows the exports read, by name, in batches, and the documents of their turns: all the
exports' SQL (playground/output/export.py writes the formats)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from playground.core.vocabulary import SIDES, FinalStatus, Mode, Side, Winner
from playground.evalsets.documents import render_documents
from playground.store.database import Database
from playground.store.report_filters import Filters, response_conditions, vote_conditions
from playground.store.tables import Conversation, Document, Rater, Rating, Response, Turn, TurnDocument, Vote

# One side's context budget as stored with its answer (None when the turn had no document or the
# backend did not report it); prompt_tokens is the server's own count.
CONTEXT_FIELDS = ("prompt_tokens", "context_policy", "context_window", "prompt_tokens_full",
                  "prompt_tokens_sent", "context_note", "cached_tokens")
BATCH = 2000
# What a turn's documents become: referred to by id, or their text put before the question as the
# models received it.
DOCUMENT_MODES = ("reference", "embed")
REFERENCE, EMBED = DOCUMENT_MODES
LEFT, RIGHT = SIDES


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


def rated_responses(db: Database, filters: Filters) -> AsyncGenerator[Sequence[Any], None]:
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
    # Each side's output tokens, for the battle log's conv_metadata (None when a side is missing).
    a_output_tokens: int | None
    b_output_tokens: int | None


def votes_of(db: Database, filters: Filters) -> AsyncGenerator[Sequence[Any], None]:
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
        "a_output_tokens": side_a.output_tokens, "b_output_tokens": side_b.output_tokens,
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


class DocumentLookup:
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
async def document_lookup(db: Database, mode: str) -> AsyncIterator[DocumentLookup]:
    async with db.reading() as session:
        yield DocumentLookup(session, embed=mode == EMBED)


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


async def earlier_turns(db: Database, conversation_id: str, side: str, last: int) -> list[EarlierTurn]:
    """One side's turns up to ``last``, in order."""
    query = (
        select(*_columns(EarlierTurn, EARLIER_TURN_SOURCES))
        .join(Response, col(Response.turn_id) == Turn.id)
        .where(Turn.conversation_id == conversation_id, Response.side == side, Turn.position <= last)
        .order_by(col(Turn.position))
    )
    async with db.reading() as session:
        return [EarlierTurn._make(row) for row in (await session.exec(query)).all()]
