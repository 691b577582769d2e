"""Every run, stored: what was asked, by whom, what the agent did, what it cost and what it answered.

``trace_id`` is the id the channels show (``ask --json``, the Slack feedback buttons' value). A run that pauses for
approval is saved as ``waiting`` and the same trace is updated when it resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import DateTime, Float, Integer, String, Text, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from knowledge import Base

TraceStatus = Literal["done", "waiting", "failed"]


class TraceRow(Base):
    __tablename__ = "agent_traces"

    trace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), index=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    workspace_id: Mapped[str] = mapped_column(String(100))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(20), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    plan: Mapped[list[str]] = mapped_column(JSONB, default=list)
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    chunk_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    prompt_versions: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    reflections: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    latency_ms: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    notes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TraceRecord(BaseModel):
    """One run as stored; ``latency_ms`` maps each graph node to the milliseconds spent in it."""

    trace_id: str
    thread_id: str
    user_id: str
    channel: str
    workspace_id: str
    question: str
    answer: str = ""
    mode: Literal["agent", "retrieval-only", "curated"] = "agent"
    status: TraceStatus = "done"
    route: str = ""
    model: str = ""
    plan: list[str] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    chunk_ids: list[int] = Field(default_factory=list)
    prompt_versions: dict[str, int] = Field(default_factory=dict)
    reflections: list[dict[str, Any]] = Field(default_factory=list)
    latency_ms: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    total_ms: float = 0.0
    error: str | None = None
    created_at: datetime | None = None


class TraceStore:
    """Saves and looks up run traces.

    A trace is saved before its answer leaves the runtime: the answer's feedback buttons carry the trace id, so a
    crash right after the answer is posted must not lose the trace a rating points at. The save is one upsert.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redact: Callable[[TraceRecord], TraceRecord] | None = None
    ) -> None:
        """``redact`` (``TraceRedactor.record``) removes personal data from every trace before it is written."""
        self._sessions = sessions
        self._redact = redact

    async def save(self, record: TraceRecord) -> None:
        """Insert the trace, or update it (a resumed run keeps its trace id)."""
        if self._redact is not None:
            record = self._redact(record)
        values = record.model_dump(exclude={"created_at"})
        statement = insert(TraceRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[TraceRow.trace_id],
            set_={**{k: statement.excluded[k] for k in values if k != "trace_id"}, "updated_at": func.now()},
        )
        async with self._sessions.begin() as session:
            await session.execute(statement)

    async def get(self, trace_id: str) -> TraceRecord | None:
        async with self._sessions() as session:
            row = await session.get(TraceRow, trace_id)
            return None if row is None else _record(row)

    async def recent(self, *, limit: int = 20, thread_id: str | None = None) -> list[TraceRecord]:
        """The newest traces, optionally of one thread."""
        query = select(TraceRow).order_by(TraceRow.created_at.desc()).limit(limit)
        if thread_id is not None:
            query = query.where(TraceRow.thread_id == thread_id)
        async with self._sessions() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def prompt_version_counts(self, name: str) -> dict[int, int]:
        """How many stored runs used each version of prompt ``name`` (for ``/prompt stats``)."""
        version = TraceRow.prompt_versions[name].astext.cast(Integer)
        query = (
            select(version, func.count())
            .where(TraceRow.prompt_versions.has_key(name))
            .group_by(version)
            .order_by(version)
        )
        async with self._sessions() as session:
            return {int(v): int(n) for v, n in (await session.execute(query)).all()}


def _record(row: TraceRow) -> TraceRecord:
    return TraceRecord.model_validate({name: getattr(row, name) for name in TraceRecord.model_fields})
