"""every piece of durable work on the job queue: scheduler claim rows go (the queue queues each occurrence once);
side-effect tool calls get an idempotency record

Scheduled occurrences and periodic system jobs are queued once per (job, fire time) by procrastinate's own record
of periodic deferrals, so the claim rows are gone. ``agent_tool_effects`` keeps one row per approved side-effect
tool call, keyed by its idempotency key, so a run retried on another worker never makes the call twice.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("scheduler_claims")
    op.create_table(
        "agent_tool_effects",
        sa.Column("call_key", sa.String(200), primary_key=True),
        sa.Column("tool_name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="started"),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("agent_tool_effects")
    op.create_table(
        "scheduler_claims",
        sa.Column("job_key", sa.String(200), primary_key=True),
        sa.Column("fire_time", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
