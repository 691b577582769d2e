"""curated answers: expert corrections, versioned, matched to later questions and served without a model call

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_curated_answers",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("workspace_id", sa.String(length=200), nullable=False, server_default="default"),
        sa.Column("status", sa.String(length=20), nullable=False, server_default="active"),
        sa.Column("review_reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("live_version", sa.Integer(), nullable=False),
        sa.Column("channels", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("question_lexemes", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("question_embedding", postgresql.ARRAY(sa.REAL()), nullable=True),
        sa.Column("embedder", sa.String(length=300), nullable=False, server_default=""),
        sa.Column("hit_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("agent_curated_answers_status_idx", "agent_curated_answers", ["workspace_id", "status"])
    op.create_table(
        "agent_curated_answer_versions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("curated_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("sources", postgresql.JSONB(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("origin_trace_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["curated_id"], ["agent_curated_answers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("curated_id", "version", name="uq_agent_curated_answer_versions_version"),
    )


def downgrade() -> None:
    op.drop_table("agent_curated_answer_versions")
    op.drop_index("agent_curated_answers_status_idx", table_name="agent_curated_answers")
    op.drop_table("agent_curated_answers")
