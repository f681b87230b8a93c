"""The playground's tables (SQLModel) and the tables of Chainlit's SQL data layer.

Both live in one database and one migration history: the sidebar history (Chainlit's threads and
steps) and the ratings (ours) are written to the same place and backed up together. A
conversation's id is its Chainlit thread id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from playground.core.vocabulary import (
    FINAL_STATUSES,
    KINDS,
    MODES,
    PAIR_POLICIES,
    SIDES,
    TRUNCATION_POLICIES,
    WINNERS,
    sql_in,
)

SCORE_MIN, SCORE_MAX = 1, 5

# JSON documents: JSONB on PostgreSQL (indexable), JSON (text) on SQLite.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _when() -> Any:
    return Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), nullable=False)


class Rater(SQLModel, table=True):
    __tablename__ = "raters"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    password_hash: str = Field(max_length=200)
    is_admin: bool = False
    created_at: datetime = _when()


class Conversation(SQLModel, table=True):
    """One rater's conversation with one pair of models; ``id`` is the Chainlit thread id."""

    __tablename__ = "conversations"

    id: str = Field(primary_key=True, max_length=64)
    rater_id: int = Field(foreign_key="raters.id", index=True)
    mode: str = Field(max_length=10)  # "blind" or "named"
    # "chat": a rater's own conversation; "batch": one prompt-set item run by `playground batch`
    # (owned by the system rater BATCH_RATER), rated by whoever the queue hands it to.
    kind: str = Field(default="chat", max_length=10, sa_column_kwargs={"server_default": "chat"})
    model_a: str = Field(max_length=200)  # which model sat on the left ...
    model_b: str = Field(max_length=200)  # ... and which on the right
    revealed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # How the pair was chosen (None: before pairs were drawn, i.e. the config's pair) and the
    # probability with which this (unordered) pair was drawn, for inverse-probability weighting.
    pair_policy: str | None = Field(default=None, max_length=10)
    pair_probability: float | None = None
    created_at: datetime = _when()

    __table_args__ = (sa.CheckConstraint(sql_in("mode", MODES), name="ck_conversation_mode"),
                      sa.CheckConstraint(sql_in("kind", KINDS), name="ck_conversation_kind"),
                      sa.CheckConstraint(f"pair_policy IS NULL OR {sql_in('pair_policy', PAIR_POLICIES)}",
                                         name="ck_conversation_pair_policy"),
                      sa.CheckConstraint("pair_probability IS NULL OR (pair_probability > 0 AND pair_probability <= 1)",
                                         name="ck_conversation_pair_probability"))



class Turn(SQLModel, table=True):
    __tablename__ = "turns"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", index=True, max_length=64)
    position: int  # 0, 1, 2 ... within the conversation
    prompt: str = Field(sa_type=sa.Text)
    system_prompt: str = Field(default="", sa_type=sa.Text)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)  # what the rater chose
    blind: bool  # were the model names hidden while this turn was shown?
    # The prompt set's category (math, code ...) when the turn came from one; the report groups by it.
    category: str | None = Field(default=None, max_length=100, index=True)
    # The prompt set and item it came from (batch runs and the app's prompt-set stepping).
    prompt_set: str | None = Field(default=None, max_length=100)
    item_id: str | None = Field(default=None, max_length=100)
    message_id: str | None = Field(default=None, max_length=64)  # Chainlit step of its panes
    # A gold item: two stored answers whose better one is known (a winner word, for sides as
    # stored). Mixed into the rating queue unmarked to score the raters; never a battle.
    gold_verdict: str | None = Field(default=None, max_length=20)
    created_at: datetime = _when()

    __table_args__ = (
        sa.UniqueConstraint("conversation_id", "position", name="uq_turn_position"),
        sa.Index("ix_turns_prompt_item", "prompt_set", "item_id"),
        sa.CheckConstraint(f"gold_verdict IS NULL OR {sql_in('gold_verdict', WINNERS)}", name="ck_turn_gold_verdict"),
    )


class Response(SQLModel, table=True):
    """One side's answer with its generation record (definitions in playground/core/generation.py
    and docs/definitions.md), and the automatic check's verdict as it was when the answer was
    stored (editing a prompt set later does not rewrite past accuracy)."""

    __tablename__ = "responses"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: int = Field(foreign_key="turns.id", index=True)
    side: str = Field(max_length=1)
    model: str = Field(max_length=200)
    text: str = Field(default="", sa_type=sa.Text)  # partial text is kept when stopped
    reasoning: str = Field(default="", sa_type=sa.Text)
    status: str = Field(max_length=10)
    finish_reason: str | None = Field(default=None, max_length=20)
    error: str | None = Field(default=None, sa_type=sa.Text)
    sampling: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)  # the parameters sent
    latency_s: float | None = None
    ttft_s: float | None = None
    tpot_s: float | None = None
    itl_s: list[float] = Field(default_factory=list, sa_type=JSONDoc)
    output_tokens: int = 0
    prompt_tokens: int | None = None
    tokens_per_s: float | None = None
    # The automatic checks of a prompt-set item's answer (None for a typed prompt): one line for
    # people, whether it contains a reference answer (None: the item has none), and what it was
    # checked against (the references and constraints of the item at the time).
    check_verdict: str | None = Field(default=None, sa_type=sa.Text)
    reference_match: bool | None = None
    check_basis: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    # The context budget of this side (None when the turn had no document): the policy applied,
    # the model's window, the whole prompt's tokens and what was sent after the cut, in words.
    context_policy: str | None = Field(default=None, max_length=10)
    context_window: int | None = None
    prompt_tokens_full: int | None = None
    prompt_tokens_sent: int | None = None
    context_note: str | None = Field(default=None, sa_type=sa.Text)
    cached_tokens: int | None = None  # prompt tokens the server took from its prefix cache
    created_at: datetime = _when()

    __table_args__ = (
        sa.UniqueConstraint("turn_id", "side", name="uq_response_side"),
        sa.CheckConstraint(sql_in("side", SIDES), name="ck_response_side"),
        sa.CheckConstraint(sql_in("status", FINAL_STATUSES), name="ck_response_status"),
        sa.CheckConstraint(f"context_policy IS NULL OR {sql_in('context_policy', TRUNCATION_POLICIES)}",
                           name="ck_response_context_policy"),
    )


class Document(SQLModel, table=True):
    """A document a rater attached (its extracted text), stored once: ``id`` is the SHA-256 of
    the file's bytes, and turns refer to it (turn_documents) instead of copying it."""

    __tablename__ = "documents"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=300)  # the file name it was first attached under
    kind: str = Field(max_length=20)  # text, markdown, pdf, html, code, pasted
    text: str = Field(sa_type=sa.Text)
    size_bytes: int
    pages: int | None = None
    created_at: datetime = _when()


class TurnDocument(SQLModel, table=True):
    """A document that a turn sent to both models (a follow-up question refers to it again)."""

    __tablename__ = "turn_documents"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: int = Field(foreign_key="turns.id", index=True)
    document_id: str = Field(foreign_key="documents.id", index=True, max_length=64)
    position: int = 0  # the order the documents were put before the question

    __table_args__ = (sa.UniqueConstraint("turn_id", "document_id", name="uq_turn_document"),)


class Rating(SQLModel, table=True):
    __tablename__ = "ratings"

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="responses.id", index=True)
    rater_id: int = Field(foreign_key="raters.id", index=True)
    accuracy: int
    fluency: int
    comment: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = _when()
    updated_at: datetime = _when()

    __table_args__ = (
        sa.UniqueConstraint("response_id", "rater_id", name="uq_rating_rater"),
        sa.CheckConstraint("accuracy BETWEEN 1 AND 5", name="ck_rating_accuracy"),
        sa.CheckConstraint("fluency BETWEEN 1 AND 5", name="ck_rating_fluency"),
    )


class Vote(SQLModel, table=True):
    """Which side was better, FastChat's labels; the models on each side are copied in so that a
    battle log needs no join and survives a renamed config."""

    __tablename__ = "votes"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: int = Field(foreign_key="turns.id", index=True)
    rater_id: int = Field(foreign_key="raters.id", index=True)
    winner: str = Field(max_length=20)
    model_a: str = Field(max_length=200)
    model_b: str = Field(max_length=200)
    blind: bool  # cast before the rater knew which model was which
    # Seconds from the rating panel being shown to this vote being submitted (None: not measured).
    time_on_task_s: float | None = None
    created_at: datetime = _when()
    updated_at: datetime = _when()

    __table_args__ = (
        sa.UniqueConstraint("turn_id", "rater_id", name="uq_vote_rater"),
        sa.CheckConstraint(sql_in("winner", WINNERS), name="ck_vote_winner"),
    )


class Assignment(SQLModel, table=True):
    """A batch turn handed to a rater by the rating queue (counts towards its overlap)."""

    __tablename__ = "assignments"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: int = Field(foreign_key="turns.id", index=True)
    rater_id: int = Field(foreign_key="raters.id", index=True)
    assigned_at: datetime = _when()

    __table_args__ = (sa.UniqueConstraint("turn_id", "rater_id", name="uq_assignment_rater"),)


class Judgement(SQLModel, table=True):
    """An LLM judge's verdict on a turn: asked twice, the second time with the answers swapped;
    ``winner`` is where both askings agree (in FastChat's labels), else a tie; None when the
    judge's replies could not be read."""

    __tablename__ = "judgements"

    id: int | None = Field(default=None, primary_key=True)
    turn_id: int = Field(foreign_key="turns.id", index=True)
    judge_model: str = Field(max_length=200)
    winner: str | None = Field(default=None, max_length=20)
    first: str | None = Field(default=None, max_length=20)  # verdict with the answers as shown
    second: str | None = Field(default=None, max_length=20)  # with the answers swapped, mapped back
    replies: list[str] = Field(default_factory=list, sa_type=JSONDoc)  # the judge's two raw replies
    created_at: datetime = _when()

    __table_args__ = (sa.UniqueConstraint("turn_id", "judge_model", name="uq_judgement_judge"),)


# --- Chainlit's SQL data layer (schema from docs.chainlit.io/data-layers/sqlalchemy, 2.12) ----
# Its queries bind ids as strings and JSON as serialized text, so ids are UUID on PostgreSQL and
# text on SQLite, and JSON columns are JSONB / text.
_ID = sa.Uuid(as_uuid=False).with_variant(sa.Text(), "sqlite")
_JSON_TEXT = sa.Text().with_variant(postgresql.JSONB(), "postgresql")
_TAGS = sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")
_meta = SQLModel.metadata

chainlit_users = sa.Table(
    "users", _meta,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("identifier", sa.Text, nullable=False, unique=True),
    sa.Column("metadata", _JSON_TEXT, nullable=False),
    sa.Column("createdAt", sa.Text),
)
chainlit_threads = sa.Table(
    "threads", _meta,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("createdAt", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("userId", _ID, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("userIdentifier", sa.Text),
    sa.Column("tags", _TAGS),
    sa.Column("metadata", _JSON_TEXT),
)
chainlit_steps = sa.Table(
    "steps", _meta,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("threadId", _ID, sa.ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    sa.Column("parentId", _ID),
    sa.Column("streaming", sa.Boolean, nullable=False),
    sa.Column("waitForAnswer", sa.Boolean),
    sa.Column("isError", sa.Boolean),
    sa.Column("metadata", _JSON_TEXT),
    sa.Column("tags", _TAGS),
    sa.Column("input", sa.Text),
    sa.Column("output", sa.Text),
    sa.Column("createdAt", sa.Text),
    sa.Column("command", sa.Text),
    sa.Column("modes", _JSON_TEXT),
    sa.Column("start", sa.Text),
    sa.Column("end", sa.Text),
    sa.Column("generation", _JSON_TEXT),
    sa.Column("showInput", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("indent", sa.Integer),
    sa.Column("defaultOpen", sa.Boolean),
    sa.Column("autoCollapse", sa.Boolean),
    sa.Column("icon", sa.Text),
)
chainlit_elements = sa.Table(
    "elements", _meta,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("threadId", _ID, sa.ForeignKey("threads.id", ondelete="CASCADE")),
    sa.Column("type", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("chainlitKey", sa.Text),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("display", sa.Text),
    sa.Column("objectKey", sa.Text),
    sa.Column("size", sa.Text),
    sa.Column("page", sa.Integer),
    sa.Column("language", sa.Text),
    sa.Column("forId", _ID),
    sa.Column("mime", sa.Text),
    sa.Column("props", _JSON_TEXT),
)
chainlit_feedbacks = sa.Table(
    "feedbacks", _meta,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("forId", _ID, nullable=False),
    sa.Column("threadId", _ID, sa.ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text),
)
