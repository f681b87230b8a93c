"""Documents attached to turns: stored once by content hash, referenced by every turn that sent
them (a follow-up question in the same conversation refers to the same rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from playground.store.database import Database
from playground.store.tables import Document, Turn, TurnDocument


@dataclass(frozen=True)
class DocumentText:
    """A stored document as the arena needs it."""

    id: str
    name: str
    kind: str
    text: str
    size_bytes: int
    pages: int | None


async def save_document(db: Database, document: DocumentText) -> None:
    """Store a document unless one with the same content hash is there already."""
    async with db.transaction() as session:
        if await session.get(Document, document.id) is None:
            session.add(Document(id=document.id, name=document.name, kind=document.kind, text=document.text,
                                 size_bytes=document.size_bytes, pages=document.pages))


async def link_documents(db: Database, turn_id: int, document_ids: Sequence[str]) -> None:
    async with db.transaction() as session:
        for position, document_id in enumerate(document_ids):
            session.add(TurnDocument(turn_id=turn_id, document_id=document_id, position=position))


def _as_text(document: Document) -> DocumentText:
    return DocumentText(document.id, document.name, document.kind, document.text, document.size_bytes,
                        document.pages)


async def documents_of_turn(db: Database, turn_id: int) -> list[DocumentText]:
    async with db.reading() as session:
        rows = (await session.exec(
            select(Document).join(TurnDocument, col(TurnDocument.document_id) == col(Document.id))
            .where(col(TurnDocument.turn_id) == turn_id).order_by(col(TurnDocument.position))
        )).all()
    return [_as_text(d) for d in rows]


async def documents_of_conversation(db: Database, conversation_id: str) -> list[DocumentText]:
    """The documents the conversation's latest turn sent (what a follow-up question refers to)."""
    async with db.reading() as session:
        last = (await session.exec(
            select(Turn.id).where(col(Turn.conversation_id) == conversation_id)
            .order_by(col(Turn.position).desc()).limit(1)
        )).first()
    return await documents_of_turn(db, last) if last is not None else []
