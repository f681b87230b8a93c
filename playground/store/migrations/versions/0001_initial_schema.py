"""Initial schema: raters, conversations, turns, responses, ratings, votes, and Chainlit's
data-layer tables (users, threads, steps, elements, feedbacks).

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 00:26:49.639793
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlmodel.sql.sqltypes import AutoString

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('raters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', AutoString(length=100), nullable=False),
    sa.Column('password_hash', AutoString(length=200), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('raters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_raters_name'), ['name'], unique=True)

    op.create_table('users',
    sa.Column('id', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('identifier', sa.Text(), nullable=False),
    sa.Column('metadata', sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('createdAt', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('identifier')
    )
    op.create_table('conversations',
    sa.Column('id', AutoString(length=64), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('mode', AutoString(length=10), nullable=False),
    sa.Column('model_a', AutoString(length=200), nullable=False),
    sa.Column('model_b', AutoString(length=200), nullable=False),
    sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mode IN ('blind', 'named')", name='ck_conversation_mode'),
    sa.ForeignKeyConstraint(['rater_id'], ['raters.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversations_rater_id'), ['rater_id'], unique=False)

    op.create_table('threads',
    sa.Column('id', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('createdAt', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('userId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=True),
    sa.Column('userIdentifier', sa.Text(), nullable=True),
    sa.Column('tags', sa.Text().with_variant(postgresql.ARRAY(sa.Text()), 'postgresql'), nullable=True),
    sa.Column('metadata', sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['userId'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('elements',
    sa.Column('id', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('threadId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=True),
    sa.Column('type', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('chainlitKey', sa.Text(), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('display', sa.Text(), nullable=True),
    sa.Column('objectKey', sa.Text(), nullable=True),
    sa.Column('size', sa.Text(), nullable=True),
    sa.Column('page', sa.Integer(), nullable=True),
    sa.Column('language', sa.Text(), nullable=True),
    sa.Column('forId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=True),
    sa.Column('mime', sa.Text(), nullable=True),
    sa.Column('props', sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['threadId'], ['threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('feedbacks',
    sa.Column('id', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('forId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('threadId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['threadId'], ['threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('steps',
    sa.Column('id', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('threadId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=False),
    sa.Column('parentId', sa.Uuid(as_uuid=False).with_variant(sa.Text(), 'sqlite'), nullable=True),
    sa.Column('streaming', sa.Boolean(), nullable=False),
    sa.Column('waitForAnswer', sa.Boolean(), nullable=True),
    sa.Column('isError', sa.Boolean(), nullable=True),
    sa.Column('metadata', sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('tags', sa.Text().with_variant(postgresql.ARRAY(sa.Text()), 'postgresql'), nullable=True),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('createdAt', sa.Text(), nullable=True),
    sa.Column('command', sa.Text(), nullable=True),
    sa.Column('modes', sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('start', sa.Text(), nullable=True),
    sa.Column('end', sa.Text(), nullable=True),
    sa.Column('generation', sa.Text().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('showInput', sa.Text(), nullable=True),
    sa.Column('language', sa.Text(), nullable=True),
    sa.Column('indent', sa.Integer(), nullable=True),
    sa.Column('defaultOpen', sa.Boolean(), nullable=True),
    sa.Column('autoCollapse', sa.Boolean(), nullable=True),
    sa.Column('icon', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['threadId'], ['threads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('turns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', AutoString(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('system_prompt', sa.Text(), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('blind', sa.Boolean(), nullable=False),
    sa.Column('message_id', AutoString(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('conversation_id', 'position', name='uq_turn_position')
    )
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_turns_conversation_id'), ['conversation_id'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=False),
    sa.Column('side', AutoString(length=1), nullable=False),
    sa.Column('model', AutoString(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reasoning', sa.Text(), nullable=False),
    sa.Column('status', AutoString(length=10), nullable=False),
    sa.Column('finish_reason', AutoString(length=20), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('sampling', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('latency_s', sa.Float(), nullable=True),
    sa.Column('ttft_s', sa.Float(), nullable=True),
    sa.Column('tpot_s', sa.Float(), nullable=True),
    sa.Column('itl_s', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('prompt_tokens', sa.Integer(), nullable=True),
    sa.Column('tokens_per_s', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("side IN ('a', 'b')", name='ck_response_side'),
    sa.CheckConstraint("status IN ('complete', 'error', 'stopped')", name='ck_response_status'),
    sa.ForeignKeyConstraint(['turn_id'], ['turns.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('turn_id', 'side', name='uq_response_side')
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_turn_id'), ['turn_id'], unique=False)

    op.create_table('votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('turn_id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('winner', AutoString(length=20), nullable=False),
    sa.Column('model_a', AutoString(length=200), nullable=False),
    sa.Column('model_b', AutoString(length=200), nullable=False),
    sa.Column('blind', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')", name='ck_vote_winner'),
    sa.ForeignKeyConstraint(['rater_id'], ['raters.id'], ),
    sa.ForeignKeyConstraint(['turn_id'], ['turns.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('turn_id', 'rater_id', name='uq_vote_rater')
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_votes_rater_id'), ['rater_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_votes_turn_id'), ['turn_id'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('accuracy', sa.Integer(), nullable=False),
    sa.Column('fluency', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('accuracy BETWEEN 1 AND 5', name='ck_rating_accuracy'),
    sa.CheckConstraint('fluency BETWEEN 1 AND 5', name='ck_rating_fluency'),
    sa.ForeignKeyConstraint(['rater_id'], ['raters.id'], ),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('response_id', 'rater_id', name='uq_rating_rater')
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_rater_id'), ['rater_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_response_id'), ['response_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_response_id'))
        batch_op.drop_index(batch_op.f('ix_ratings_rater_id'))

    op.drop_table('ratings')
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_votes_turn_id'))
        batch_op.drop_index(batch_op.f('ix_votes_rater_id'))

    op.drop_table('votes')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_turn_id'))

    op.drop_table('responses')
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_turns_conversation_id'))

    op.drop_table('turns')
    op.drop_table('steps')
    op.drop_table('feedbacks')
    op.drop_table('elements')
    op.drop_table('threads')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversations_rater_id'))

    op.drop_table('conversations')
    op.drop_table('users')
    with op.batch_alter_table('raters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_raters_name'))

    op.drop_table('raters')

