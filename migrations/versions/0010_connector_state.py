"""knowledge: connector checkpoints, external groups and documents hidden for unreadable permissions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_source_state",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("checkpoint", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("checkpoint_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("permissions_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("permissions_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["kb_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id"),
    )
    op.create_table(
        "kb_external_group_members",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("group_principal", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["kb_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id", "group_principal", "member", name="kb_external_group_members_pkey"),
    )
    op.create_index("kb_external_group_members_member_idx", "kb_external_group_members", ["member"])
    op.create_table(
        "kb_access_failures",
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["kb_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id"),
    )


def downgrade() -> None:
    op.drop_table("kb_access_failures")
    op.drop_index("kb_external_group_members_member_idx", table_name="kb_external_group_members")
    op.drop_table("kb_external_group_members")
    op.drop_table("kb_source_state")
