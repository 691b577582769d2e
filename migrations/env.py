"""Alembic environment: runs on the connection the caller hands over (which already holds the migration lock)."""

from __future__ import annotations

from alembic import context
from pgvector.sqlalchemy import Vector

# Import every package whose tables live in the shared metadata, so autogenerate sees them all.
import agents  # noqa: F401
import agents.evaluation  # noqa: F401  (evaluation sets, cases, runs)
import agents.schedules  # noqa: F401  (schedule tables)
import bot  # noqa: F401
import bot.mcp_server.tokens  # noqa: F401  (MCP bearer tokens)
import bot.phone  # noqa: F401  (phone line tables)
import bot.scheduling  # noqa: F401  (scheduler claim rows)
import bot.slack.tables  # noqa: F401  (the Slack channel's tables)
import knowledge  # noqa: F401
import tools  # noqa: F401
from knowledge.database import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `switchboard db upgrade`, which provides the connection")
    # Let autogenerate recognise pgvector columns.
    connection.dialect.ischema_names["vector"] = Vector
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run `switchboard db upgrade`")
run_migrations()
