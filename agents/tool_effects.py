"""Side-effect tool calls made at most once, however often the run that makes them is retried.

A run resumed on another worker (its first one died) repeats the step it was in, and that step may be the one that
called a tool with side effects. Each approved side-effect call has an idempotency key (its approval id: one per
run and tool call); before the call a row is written under it, and after it the result. A repeat finds the row:
a finished call hands back its stored result without calling again, and a call that started but never recorded
its end (the worker died inside it) is not made again either, because nobody can tell whether it took effect: the
model is told so, and tells the user to check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from knowledge import Base
from tools import ToolResult

logger = logging.getLogger(__name__)


class ToolEffectRow(Base):
    __tablename__ = "agent_tool_effects"

    call_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(100))
    # started -> done
    status: Mapped[str] = mapped_column(String(12), default="started")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class EarlierCall:
    """What a repeated call finds: the stored result of the call already made, or None if it never finished."""

    result: ToolResult | None


def unfinished_call_result(tool_name: str) -> ToolResult:
    """What the model reads for a call that started before a restart and never recorded how it ended."""
    return ToolResult.error(
        f"this {tool_name} call was already started once, before the service restarted, and it is not known "
        "whether it took effect. It was not made again, so that it cannot happen twice. Do not call it again; "
        "tell the user to check whether it was done."
    )


class ToolEffectLedger:
    """The ``agent_tool_effects`` table: one row per side-effect call, keyed by its idempotency key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(self, call_key: str, tool_name: str) -> EarlierCall | None:
        """Record that the call is about to be made; None if it is new (make it), else what the earlier one left."""
        async with self._sessions.begin() as session:
            inserted = await session.scalar(
                insert(ToolEffectRow)
                .values(call_key=call_key, tool_name=tool_name, status="started")
                .on_conflict_do_nothing(index_elements=[ToolEffectRow.call_key])
                .returning(ToolEffectRow.call_key)
            )
            if inserted is not None:
                return None
            row = await session.scalar(select(ToolEffectRow).where(ToolEffectRow.call_key == call_key))
        if row is None or row.status != "done" or row.result is None:
            logger.warning(
                "side-effect call %s (%s) started before and never finished; not repeated", call_key, tool_name
            )
            return EarlierCall(result=None)
        logger.info("side-effect call %s (%s) was made already; its stored result is used", call_key, tool_name)
        return EarlierCall(result=ToolResult.model_validate(row.result))

    async def finish(self, call_key: str, result: ToolResult) -> None:
        """Store the call's result, so a repeat of the step hands it back instead of calling again."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ToolEffectRow)
                .where(ToolEffectRow.call_key == call_key)
                .values(status="done", result=result.model_dump(mode="json"), finished_at=func.now())
            )
