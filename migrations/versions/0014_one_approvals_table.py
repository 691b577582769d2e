"""approvals: one table, agent_approvals, with a pointer to the message that shows it; slack_approvals goes

Each decision used to be written twice (agent_approvals by the runtime, slack_approvals by the Slack channel), and
the two disagreed when a newer question superseded a paused run. agent_approvals stays the one state machine; the
Slack message becomes its surface pointer. A Slack row whose run the runtime never recorded has nothing to resume
and is dropped; where the two disagreed, the runtime's status wins.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SURFACE_COLUMNS = ("surface", "surface_workspace", "surface_channel", "surface_thread", "surface_message")


def upgrade() -> None:
    op.add_column("agent_approvals", sa.Column("surface", sa.String(16), nullable=True))
    for name in _SURFACE_COLUMNS[1:]:
        op.add_column("agent_approvals", sa.Column(name, sa.String(64), nullable=True))
    op.execute(
        """
        UPDATE agent_approvals AS a
        SET surface = 'slack', surface_workspace = s.team_id, surface_channel = s.channel_id,
            surface_thread = s.thread_ts, surface_message = s.message_ts
        FROM slack_approvals AS s
        WHERE s.approval_id = a.approval_id
        """
    )
    op.drop_table("slack_approvals")


def downgrade() -> None:
    _NOW = sa.text("now()")
    op.create_table(
        "slack_approvals",
        sa.Column("approval_id", sa.String(128), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("tool_name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )
    # The old Slack table knew no "superseded": such a request stayed pending there.
    op.execute(
        """
        INSERT INTO slack_approvals (approval_id, team_id, channel_id, thread_ts, message_ts, requested_by,
                                     tool_name, status, decided_by, decided_at, created_at)
        SELECT approval_id, surface_workspace, surface_channel, surface_thread, surface_message, requested_by,
               tool_name, CASE WHEN status = 'superseded' THEN 'pending' ELSE status END, decided_by, decided_at,
               created_at
        FROM agent_approvals
        WHERE surface = 'slack'
        """
    )
    for name in reversed(_SURFACE_COLUMNS):
        op.drop_column("agent_approvals", name)
