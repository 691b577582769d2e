"""Claim rows: one per (job, occurrence), inserted before running it, so each occurrence runs once cluster-wide."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.database import Base


class SchedulerClaimRow(Base):
    __tablename__ = "scheduler_claims"

    job_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fire_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FireClaims:
    """``INSERT ... ON CONFLICT DO NOTHING`` on (job_key, fire_time): the one insert that lands owns the run."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, job_key: str, fire_time: datetime, claimed_by: str) -> bool:
        """True if this caller now owns the occurrence; False if another replica (or an earlier run) claimed it."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                insert(SchedulerClaimRow)
                .values(job_key=job_key, fire_time=fire_time, claimed_by=claimed_by)
                .on_conflict_do_nothing(index_elements=["job_key", "fire_time"])
                .returning(SchedulerClaimRow.job_key)
            )
            return result.first() is not None

    async def last_claimed(self, job_key: str) -> datetime | None:
        """The newest occurrence of a job that some replica ran: where catching up after downtime starts."""
        async with self._sessions() as session:
            newest: datetime | None = await session.scalar(
                select(func.max(SchedulerClaimRow.fire_time)).where(SchedulerClaimRow.job_key == job_key)
            )
        return newest
