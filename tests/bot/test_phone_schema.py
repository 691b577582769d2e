"""The phone tables that migration 0005 creates are the ones the code maps (autogenerate finds nothing to add)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.phone  # noqa: F401 - registers the phone tables on the shared metadata
from knowledge.database import Base


def _phone_table_of(diff: Any) -> str | None:
    """The table a diff entry is about (entries are tuples, or lists of tuples for column changes)."""
    entry = diff[0] if isinstance(diff, list) else diff
    for part in entry[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else part
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", "").startswith("phone_"):
            return str(table.name)
        if isinstance(name, str) and name.startswith("phone_"):
            return name
    return None


async def test_migration_matches_the_phone_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diffs = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
        )
    assert [diff for diff in diffs if _phone_table_of(diff)] == []
