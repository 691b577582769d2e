"""phone line: calls, transcripts, agent answers in progress, intakes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_calls",
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("caller_number", sa.String(length=32), nullable=False),
        sa.Column("called_number", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("follow_up_requested", sa.Boolean(), nullable=False),
        sa.Column("silent_gathers", sa.Integer(), nullable=False),
        sa.Column("turn_count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("call_sid"),
    )
    op.create_table(
        "phone_turns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["call_sid"], ["phone_calls.call_sid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid", "position", name="uq_phone_turns_call_position"),
    )
    op.create_index(op.f("ix_phone_turns_call_sid"), "phone_turns", ["call_sid"], unique=False)
    op.create_table(
        "phone_answers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("spoken_text", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("holds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["call_sid"], ["phone_calls.call_sid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid", "turn", name="uq_phone_answers_call_turn"),
    )
    op.create_index(op.f("ix_phone_answers_call_sid"), "phone_answers", ["call_sid"], unique=False)
    op.create_table(
        "phone_intakes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.Text(), nullable=True),
        sa.Column("caller_number", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("promised", sa.Text(), nullable=False),
        sa.Column("follow_up", sa.Boolean(), nullable=False),
        sa.Column("summary_mode", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("slack_channel", sa.String(length=64), nullable=True),
        sa.Column("slack_ts", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["call_sid"], ["phone_calls.call_sid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid", name="uq_phone_intakes_call_sid"),
    )


def downgrade() -> None:
    op.drop_table("phone_intakes")
    op.drop_index(op.f("ix_phone_answers_call_sid"), table_name="phone_answers")
    op.drop_table("phone_answers")
    op.drop_index(op.f("ix_phone_turns_call_sid"), table_name="phone_turns")
    op.drop_table("phone_turns")
    op.drop_table("phone_calls")
