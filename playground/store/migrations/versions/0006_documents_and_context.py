"""Documents attached to turns (stored once by content hash), each side's context budget, prefix
cache hits, and needle-sweep conversations.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must keep meaning what it meant when written.
POLICIES = "context_policy IS NULL OR context_policy IN ('refuse', 'head', 'tail', 'middle')"


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", AutoString(length=64), nullable=False),
        sa.Column("name", AutoString(length=300), nullable=False),
        sa.Column("kind", AutoString(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "turn_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("document_id", AutoString(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("turn_id", "document_id", name="uq_turn_document"),
    )
    with op.batch_alter_table("turn_documents") as batch:
        batch.create_index("ix_turn_documents_turn_id", ["turn_id"], unique=False)
        batch.create_index("ix_turn_documents_document_id", ["document_id"], unique=False)
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("context_policy", AutoString(length=10), nullable=True))
        batch.add_column(sa.Column("context_window", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prompt_tokens_full", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prompt_tokens_sent", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("context_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("cached_tokens", sa.Integer(), nullable=True))
        batch.create_check_constraint("ck_response_context_policy", POLICIES)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("ck_conversation_kind", type_="check")
        batch.create_check_constraint("ck_conversation_kind", "kind IN ('chat', 'batch', 'needle')")


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("ck_conversation_kind", type_="check")
        batch.create_check_constraint("ck_conversation_kind", "kind IN ('chat', 'batch')")
    with op.batch_alter_table("responses") as batch:
        batch.drop_constraint("ck_response_context_policy", type_="check")
        for column in ("cached_tokens", "context_note", "prompt_tokens_sent", "prompt_tokens_full",
                       "context_window", "context_policy"):
            batch.drop_column(column)
    with op.batch_alter_table("turn_documents") as batch:
        batch.drop_index("ix_turn_documents_document_id")
        batch.drop_index("ix_turn_documents_turn_id")
    op.drop_table("turn_documents")
    op.drop_table("documents")
