"""Many-model arenas and trusted raters: how each conversation's pair was drawn (policy and
probability), gold items (a turn whose better answer is known), and the time a rater took to
vote.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 18:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Written out rather than imported: a migration must keep meaning what it meant when written.
PAIR_POLICIES = "pair_policy IS NULL OR pair_policy IN ('fixed', 'uniform', 'adaptive')"
PAIR_PROBABILITY = "pair_probability IS NULL OR (pair_probability > 0 AND pair_probability <= 1)"
GOLD_VERDICTS = "gold_verdict IS NULL OR gold_verdict IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')"


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("pair_policy", AutoString(length=10), nullable=True))
        batch.add_column(sa.Column("pair_probability", sa.Float(), nullable=True))
        batch.create_check_constraint("ck_conversation_pair_policy", PAIR_POLICIES)
        batch.create_check_constraint("ck_conversation_pair_probability", PAIR_PROBABILITY)
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("gold_verdict", AutoString(length=20), nullable=True))
        batch.create_check_constraint("ck_turn_gold_verdict", GOLD_VERDICTS)
    with op.batch_alter_table("votes") as batch:
        batch.add_column(sa.Column("time_on_task_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("votes") as batch:
        batch.drop_column("time_on_task_s")
    with op.batch_alter_table("turns") as batch:
        batch.drop_constraint("ck_turn_gold_verdict", type_="check")
        batch.drop_column("gold_verdict")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("ck_conversation_pair_probability", type_="check")
        batch.drop_constraint("ck_conversation_pair_policy", type_="check")
        batch.drop_column("pair_probability")
        batch.drop_column("pair_policy")
