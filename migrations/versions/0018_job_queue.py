"""jobs: one PostgreSQL job queue (procrastinate) for every piece of durable work; Slack events keep only their
dedupe row and the message their answer goes into

The queue's own tables, types and functions come from the procrastinate release pinned in pyproject.toml (its
schema file, applied as it is). A later procrastinate upgrade comes with a revision applying that release's
migration files, in order.

Slack events were a lease table with a recovery loop; a queued job now carries the event, so the row only
deduplicates Slack's retries (its id) and remembers the "working on it" message a retried job answers in.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUE_OBJECTS = (
    "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
    "procrastinate_workers CASCADE",
    "DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type, procrastinate_job_status CASCADE",
)


def upgrade() -> None:
    # Straight to the driver, with no parameters, so the schema's "%" signs are taken literally (in this migration's
    # transaction, on its connection).
    dbapi = op.get_bind().connection.dbapi_connection
    if dbapi is None:
        raise RuntimeError("migration 0018 needs a live database connection")
    with dbapi.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())
    op.drop_index("ix_slack_events_status", table_name="slack_events")
    for column in ("payload", "status", "attempts", "lease_until", "finished_at"):
        op.drop_column("slack_events", column)
    op.add_column("slack_events", sa.Column("working_ts", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("slack_events", "working_ts")
    op.add_column("slack_events", sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "slack_events",
        sa.Column("lease_until", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.add_column("slack_events", sa.Column("attempts", sa.Integer(), server_default="1", nullable=False))
    op.add_column("slack_events", sa.Column("status", sa.String(16), server_default="done", nullable=False))
    op.add_column(
        "slack_events", sa.Column("payload", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False)
    )
    op.create_index("ix_slack_events_status", "slack_events", ["status"])
    for statement in _QUEUE_OBJECTS:
        op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS " + ", ".join(_FUNCTIONS) + " CASCADE")


_FUNCTIONS = (
    "procrastinate_defer_jobs_v1",
    "procrastinate_defer_periodic_job_v2",
    "procrastinate_fetch_job_v2",
    "procrastinate_finish_job_v1",
    "procrastinate_cancel_job_v1",
    "procrastinate_retry_job_v1",
    "procrastinate_retry_job_v2",
    "procrastinate_notify_queue_job_inserted_v1",
    "procrastinate_notify_queue_abort_job_v1",
    "procrastinate_trigger_function_status_events_insert_v1",
    "procrastinate_trigger_function_status_events_update_v1",
    "procrastinate_trigger_function_scheduled_events_v1",
    "procrastinate_trigger_abort_requested_events_procedure_v1",
    "procrastinate_unlink_periodic_defers_v1",
    "procrastinate_register_worker_v1",
    "procrastinate_unregister_worker_v1",
    "procrastinate_update_heartbeat_v1",
    "procrastinate_prune_stalled_workers_v1",
)
