"""The evaluation tables migration 0015 creates are the ones the code maps (autogenerate finds nothing to add)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

import agents.evaluation  # noqa: F401 - registers the evaluation tables on the shared metadata
from knowledge.database import Base


def _evaluation_table_of(diff: Any) -> str | None:
    entry = diff[0] if isinstance(diff, list) else diff
    for part in entry[1:]:
        table = getattr(part, "table", None)
        name = part if isinstance(part, str) else getattr(part, "name", None)
        if table is not None and getattr(table, "name", "").startswith("eval_"):
            return str(table.name)
        if isinstance(name, str) and name.startswith("eval_"):
            return name
    return None


async def test_migration_matches_the_evaluation_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diffs = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
        )
    assert [diff for diff in diffs if _evaluation_table_of(diff)] == []
