"""Reading stored traces: recent runs filtered by who, where and which prompt version, and daily totals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Integer, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.traces import TraceRecord, TraceRow


class TraceFilter(BaseModel):
    user_id: str | None = None
    channel: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    # Only these traces (e.g. the ones rated 👎); None means any.
    trace_ids: set[str] | None = None
    limit: int = 20


class DailyTotal(BaseModel):
    day: date
    prompt_name: str
    prompt_version: int
    runs: int
    input_tokens: int
    output_tokens: int
    mean_ms: float
    max_ms: float


def _record(row: TraceRow) -> TraceRecord:
    return TraceRecord.model_validate({name: getattr(row, name) for name in TraceRecord.model_fields})


async def find_traces(sessions: async_sessionmaker[AsyncSession], wanted: TraceFilter) -> list[TraceRecord]:
    """The newest traces that match every given filter."""
    query = select(TraceRow).order_by(TraceRow.created_at.desc()).limit(wanted.limit)
    if wanted.user_id is not None:
        query = query.where(TraceRow.user_id == wanted.user_id)
    if wanted.channel is not None:
        query = query.where(TraceRow.channel == wanted.channel)
    if wanted.prompt_name is not None:
        query = query.where(TraceRow.prompt_versions.has_key(wanted.prompt_name))
        if wanted.prompt_version is not None:
            version = TraceRow.prompt_versions[wanted.prompt_name].astext.cast(Integer)
            query = query.where(version == wanted.prompt_version)
    if wanted.trace_ids is not None:
        query = query.where(TraceRow.trace_id.in_(list(wanted.trace_ids)))
    async with sessions() as session:
        return [_record(row) for row in await session.scalars(query)]


async def daily_totals(
    sessions: async_sessionmaker[AsyncSession], prompt_name: str = "answer", *, days: int = 7
) -> list[DailyTotal]:
    """Runs, tokens and latency per day and version of ``prompt_name`` over the last ``days`` days (UTC)."""
    since = datetime.now(UTC) - timedelta(days=days)
    day = func.date_trunc("day", func.timezone("UTC", TraceRow.created_at))
    version = TraceRow.prompt_versions[prompt_name].astext.cast(Integer)
    query = (
        select(
            day,
            version,
            func.count(),
            func.sum(TraceRow.input_tokens),
            func.sum(TraceRow.output_tokens),
            func.avg(TraceRow.total_ms),
            func.max(TraceRow.total_ms),
        )
        .where(TraceRow.created_at >= since, TraceRow.prompt_versions.has_key(prompt_name))
        .group_by(day, version)
        .order_by(day, version)
    )
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        DailyTotal(
            day=row[0].date(),
            prompt_name=prompt_name,
            prompt_version=int(row[1]),
            runs=int(row[2]),
            input_tokens=int(row[3] or 0),
            output_tokens=int(row[4] or 0),
            mean_ms=round(float(row[5] or 0.0), 1),
            max_ms=round(float(row[6] or 0.0), 1),
        )
        for row in rows
    ]


__all__ = ["DailyTotal", "TraceFilter", "daily_totals", "find_traces"]
