"""Batch runs and the rating queue: conversations have a kind (chat or batch), turns remember
their prompt set and item, and assignments record which rater the queue handed a turn to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("kind", AutoString(length=10), nullable=False,
                                   server_default="chat"))
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("prompt_set", AutoString(length=100), nullable=True))
        batch.add_column(sa.Column("item_id", AutoString(length=100), nullable=True))
        batch.create_index("ix_turns_prompt_item", ["prompt_set", "item_id"], unique=False)
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("rater_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rater_id"], ["raters.id"]),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("turn_id", "rater_id", name="uq_assignment_rater"),
    )
    with op.batch_alter_table("assignments") as batch:
        batch.create_index("ix_assignments_turn_id", ["turn_id"], unique=False)
        batch.create_index("ix_assignments_rater_id", ["rater_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_index("ix_assignments_rater_id")
        batch.drop_index("ix_assignments_turn_id")
    op.drop_table("assignments")
    with op.batch_alter_table("turns") as batch:
        batch.drop_index("ix_turns_prompt_item")
        batch.drop_column("item_id")
        batch.drop_column("prompt_set")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("kind")
