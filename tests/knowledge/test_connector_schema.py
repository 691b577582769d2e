"""The connector-state tables that migration 0010 creates are the ones the code maps (autogenerate finds nothing)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

import knowledge.connector_tables  # noqa: F401 - registers the tables on the shared metadata
from knowledge.database import Base

_TABLES = {"kb_source_state", "kb_external_group_members", "kb_access_failures"}


def _table_of(diff: Any) -> str | None:
    entry = diff[0] if isinstance(diff, list) else diff
    for part in entry[1:]:
        table = getattr(part, "table", None)
        name = getattr(table, "name", None) if table is not None else getattr(part, "name", None)
        if name in _TABLES:
            return str(name)
    return None


async def test_migration_matches_the_connector_state_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diffs = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
        )
    assert [diff for diff in diffs if _table_of(diff)] == []
