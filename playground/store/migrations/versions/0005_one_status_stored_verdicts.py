"""One status vocabulary ("complete" is stored as "done", the word the panes use); the automatic
check's verdict stored with each answer, backfilled from the prompt sets as they are now; the
conversation kind constrained like its mode.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# Written out rather than imported: a migration must keep meaning what it meant when written.
NEW_STATUSES = "status IN ('done', 'error', 'stopped')"
OLD_STATUSES = "status IN ('complete', 'error', 'stopped')"


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.drop_constraint("ck_response_status", type_="check")
        batch.add_column(sa.Column("check_verdict", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reference_match", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("check_basis", JSON_DOC, nullable=True))
    op.execute("UPDATE responses SET status = 'done' WHERE status = 'complete'")
    with op.batch_alter_table("responses") as batch:
        batch.create_check_constraint("ck_response_status", NEW_STATUSES)
    with op.batch_alter_table("conversations") as batch:
        batch.create_check_constraint("ck_conversation_kind", "kind IN ('chat', 'batch')")
    _backfill_verdicts()


def _backfill_verdicts() -> None:
    """Answers to prompt-set items get the verdict of the item as the set reads today; an answer
    whose set or item is gone keeps none (the report leaves it out, as it did before)."""
    from playground.evalsets.checks import check_answer, check_basis
    from playground.evalsets.prompt_sets import PromptSetError, load_listed_set

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT r.id, r.text, t.prompt_set, t.item_id FROM responses r JOIN turns t ON t.id = r.turn_id "
        "WHERE t.prompt_set IS NOT NULL AND t.item_id IS NOT NULL AND r.status != 'stopped'"
    )).all()
    sets: dict[str, Any] = {}
    responses = sa.table(
        "responses", sa.column("id", sa.Integer), sa.column("check_verdict", sa.Text),
        sa.column("reference_match", sa.Boolean), sa.column("check_basis", JSON_DOC),
    )
    for response_id, text, set_name, item_id in rows:
        if set_name not in sets:
            try:
                sets[set_name] = load_listed_set(set_name)
            except PromptSetError:
                sets[set_name] = None
        prompt_set = sets[set_name]
        try:
            item = prompt_set.item(item_id) if prompt_set is not None else None
        except KeyError:
            item = None
        if item is None:
            continue
        found = check_answer(text, item)
        bind.execute(
            responses.update().where(responses.c.id == response_id).values(
                check_verdict=found.verdict, reference_match=found.reference_match,
                check_basis=check_basis(set_name, item),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("ck_conversation_kind", type_="check")
    with op.batch_alter_table("responses") as batch:
        batch.drop_constraint("ck_response_status", type_="check")
        batch.drop_column("check_basis")
        batch.drop_column("reference_match")
        batch.drop_column("check_verdict")
    op.execute("UPDATE responses SET status = 'complete' WHERE status = 'done'")
    with op.batch_alter_table("responses") as batch:
        batch.create_check_constraint("ck_response_status", OLD_STATUSES)
