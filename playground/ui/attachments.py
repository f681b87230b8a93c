"""Documents a rater attaches to the chat: files uploaded over HTTP (Chainlit's upload, never the
websocket), or a long text pasted into the chat box.

Each is extracted (playground.evalsets.documents), stored once by content hash, and kept for the
rest of the conversation: a follow-up question is asked about the same documents without
uploading them again. A file that cannot be used is refused with its name and the reason, and
nothing is sent; the chat goes on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import chainlit as cl

from playground.evalsets.documents import (
    DocumentError,
    ExtractedDocument,
    check_batch,
    extract_document,
    pasted_document,
)
from playground.store.documents import DocumentText, documents_of_conversation, save_document
from playground.ui.context import AppContext
from playground.ui.language import say

SESSION_KEY = "documents"


def attached() -> list[DocumentText]:
    """The documents of this conversation so far."""
    documents: list[DocumentText] = cl.user_session.get(SESSION_KEY) or []
    return documents


async def reload_attached(app: AppContext, conversation_id: str) -> None:
    """A reopened conversation goes on with the documents its last turn sent."""
    cl.user_session.set(SESSION_KEY, await documents_of_conversation(app.db, conversation_id))


def _stored(document: ExtractedDocument) -> DocumentText:
    return DocumentText(document.id, document.name[:300], document.kind, document.text, document.size_bytes,
                        document.pages)


async def receive(app: AppContext, message: cl.Message) -> tuple[list[DocumentText], str] | None:
    """(documents newly attached by this message, the question left in it); None when something
    was refused (the rater has been told why and nothing is to be sent)."""
    limits = app.config.documents
    files = [element for element in message.elements or [] if element.path]
    question = message.content.strip()
    try:
        # Sizes from the files Chainlit wrote (the browser's claims are not trusted).
        check_batch([(f.name, Path(str(f.path)).stat().st_size) for f in files], limits)
        extracted = [await asyncio.to_thread(extract_document, f.name, Path(str(f.path)).read_bytes(), limits)
                     for f in files]
        if len(question) > limits.paste_threshold_chars:
            extracted.append(pasted_document(question, limits))
            question = ""
    except DocumentError as exc:
        await cl.Message(content=say("documents.not_sent", error=exc), author=say("documents.author")).send()
        return None
    new = [_stored(document) for document in extracted]
    for document in new:
        await save_document(app.db, document)
    known = {document.id for document in attached()}
    cl.user_session.set(SESSION_KEY, attached() + [d for d in new if d.id not in known])
    if new:
        listed = ", ".join(say("documents.item", name=d.name, chars=f"{len(d.text):,}",
                               pages=say("documents.pages", pages=d.pages) if d.pages else "") for d in new)
        await cl.Message(content=say("documents.attached", listed=listed), author=say("documents.author")).send()
    return new, question
