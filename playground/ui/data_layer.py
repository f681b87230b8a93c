"""Chainlit's SQL data layer on the playground's own database and engine.

Chainlit keeps the sidebar history (users, threads, steps) in its tables; the answers, timings
and ratings live in ours. The side-by-side panes and the rating panel are custom elements whose
props would otherwise be stored a second time (Chainlit would want a blob store for them): they
are not stored, and a reopened conversation gets them rebuilt from our tables, so what the rater
sees is exactly what was recorded.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.element import ElementDict
from chainlit.types import ThreadDict
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from playground.core.vocabulary import SIDES
from playground.store.database import Database
from playground.store.ratings import ratings_of_turn
from playground.store.records import load_conversation, record_of, shown_blind, stored_checks
from playground.ui.panes import duel_props, stored_contexts
from playground.ui.rating_panel import rating_panel_props

log = logging.getLogger(__name__)

_ELEMENT_IDS = uuid.UUID("5d7c1f0e-8a0b-4c55-9a43-6f3c0f7d2b11")


def element_id(kind: str, turn_id: int) -> str:
    """Stable ids, so a reopened conversation shows the same elements each time."""
    return str(uuid.uuid5(_ELEMENT_IDS, f"{kind}:{turn_id}"))


class PlaygroundDataLayer(SQLAlchemyDataLayer):
    def __init__(self, db: Database) -> None:
        # Not super().__init__: that would open a second engine (and a second pool of SQLite
        # writers) on the same database. These are the attributes the parent's methods use.
        self.db = db
        self._conninfo = db.url
        self.user_thread_limit = 1000
        self.show_logger = False
        self.storage_provider = None
        self.engine = db.engine
        self.async_session = sessionmaker(  # type: ignore[call-overload]
            bind=db.engine, expire_on_commit=False, class_=AsyncSession
        )

    async def execute_sql(self, query: str, parameters: dict[str, Any]) -> list[dict[str, Any]] | int | None:
        """Chainlit's statements (every message's step, the thread's name, the user on each request)
        on the playground's terms: a SELECT reads from a snapshot without taking the write lock, and
        any other statement queues with the playground's own writers, behind the urgent ones
        (ratings, turns: :mod:`playground.store.write_queue`). Chainlit's own version begins every
        statement, reads included, as a writer outside that queue: on SQLite each one then takes the
        database's lock and retries in its sleeping busy handler, and with 50 raters at once a
        rating waited seconds for its commit."""
        reads = query.lstrip().upper().startswith(("SELECT", "WITH"))
        try:
            async with (self.db.reading() if reads else self.db.transaction("background")) as session:
                connection = await session.connection()  # raw SQL: SQLAlchemy's own execute
                result: Any = await connection.execute(text(query), parameters)  # a CursorResult
                if result.returns_rows:
                    rows: list[dict[str, Any]] = self.clean_result([dict(row._mapping) for row in result.fetchall()])
                    return rows
                return int(result.rowcount)
        except SQLAlchemyError as exc:  # as Chainlit's own: its callers take None for "nothing"
            log.warning("Chainlit's data layer statement failed: %s", exc)
            return None

    async def create_element(self, element: Any) -> None:
        return None  # rebuilt from the playground's tables in get_thread

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        return None

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        thread = await super().get_thread(thread_id)
        if thread is None:
            return None
        thread["elements"] = [
            e for e in (thread.get("elements") or []) if e.get("type") != "custom"
        ] + await self.turn_elements(thread_id)
        return thread

    async def turn_elements(self, thread_id: str) -> list[ElementDict]:
        loaded = await load_conversation(self.db, thread_id)
        if loaded is None:
            return []
        conversation, turns = loaded
        elements: list[ElementDict] = []
        for turn, responses in turns:
            if turn.id is None or turn.message_id is None or set(responses) != set(SIDES):
                continue
            records = {side: record_of(responses[side]) for side in SIDES}
            saved = await ratings_of_turn(self.db, turn.id, conversation.rater_id)
            names: dict[str, str] = {side: r.model for side, r in records.items()}
            elements.append(_custom(
                element_id("panes", turn.id), thread_id, turn.message_id, "SideBySide",
                duel_props(records, blind=shown_blind(turn, conversation), contexts=stored_contexts(responses)),
            ))
            elements.append(_custom(
                element_id("rating", turn.id), thread_id, turn.message_id, "RatingPanel",
                rating_panel_props(
                    turn.id, saved=saved, revealed=names if saved or not turn.blind else None,
                    checks=await stored_checks(self.db, turn.id) if saved else None,
                ),
            ))
        return elements


def _custom(id: str, thread_id: str, for_id: str, name: str, props: dict) -> ElementDict:
    return ElementDict(
        id=id, threadId=thread_id, type="custom", name=name, display="inline", forId=for_id,
        props=props, url=None, chainlitKey=None, objectKey=None, mime="application/json",
    )
