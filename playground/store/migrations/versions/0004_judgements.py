"""LLM-as-judge verdicts on turns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlmodel.sql.sqltypes import AutoString

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("judge_model", AutoString(length=200), nullable=False),
        sa.Column("winner", AutoString(length=20), nullable=True),
        sa.Column("first", AutoString(length=20), nullable=True),
        sa.Column("second", AutoString(length=20), nullable=True),
        sa.Column("replies", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("turn_id", "judge_model", name="uq_judgement_judge"),
    )
    with op.batch_alter_table("judgements") as batch:
        batch.create_index("ix_judgements_turn_id", ["turn_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("judgements") as batch:
        batch.drop_index("ix_judgements_turn_id")
    op.drop_table("judgements")
