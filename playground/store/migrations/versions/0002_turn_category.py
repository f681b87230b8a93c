"""Turns carry the category of the prompt-set item they came from (for per-category reports).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER TABLE ... ADD a column with an index in one statement.
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("category", AutoString(length=100), nullable=True))
        batch.create_index("ix_turns_category", ["category"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_index("ix_turns_category")
        batch.drop_column("category")
