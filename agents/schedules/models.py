"""Schedules as data: the tables (the source of truth every replica's scheduler loads) and their public models."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from agents.errors import ScheduleInputError
from agents.schedules.phrases import parse_when
from knowledge.database import Base

Origin = Literal["chat", "config"]
# "interrupted": the service stopped (or died) while the run was in flight; the next occurrence runs as usual.
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
INTERRUPTED_REASON = "the service stopped during the run; the next occurrence runs as usual"
RETRIED_REASON = "the worker running it stopped; the run was started again"
RunTrigger = Literal["scheduled", "catch-up", "manual"]


class ScheduleRow(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64), index=True)
    instruction: Mapped[str] = mapped_column(Text)
    when_text: Mapped[str] = mapped_column(Text)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    origin: Mapped[str] = mapped_column(String(16))
    # Stable identity of a config-file schedule, so a restart updates it instead of adding a twin.
    config_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Bumped on every change: replicas poll max(updated_at) to know when to reload their in-memory jobs.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(64))


class ScheduleRunRow(Base):
    __tablename__ = "schedule_runs"
    __table_args__ = (Index("ix_schedule_runs_schedule_started", "schedule_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("schedules.id", ondelete="CASCADE"))
    fire_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(128))
    message_channel: Mapped[str | None] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(64))
    message_link: Mapped[str | None] = mapped_column(Text)


class Schedule(BaseModel):
    """A scheduled agent task: run ``instruction`` at each ``cron`` occurrence in ``timezone``; post to ``channel``."""

    model_config = ConfigDict(frozen=True)

    id: int
    owner: str
    channel: str
    instruction: str
    when: str
    cron: str
    timezone: str
    enabled: bool
    origin: Origin
    created_at: datetime

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.cron, self.timezone)

    def next_run(self, after: datetime) -> datetime | None:
        """The first occurrence at or after ``after``, in the schedule's time zone."""
        fire_time: datetime | None = self.trigger().get_next_fire_time(None, after)
        return fire_time

    @classmethod
    def from_row(cls, row: ScheduleRow) -> Schedule:
        return cls(
            id=row.id,
            owner=row.owner,
            channel=row.channel,
            instruction=row.instruction,
            when=row.when_text,
            cron=row.cron,
            timezone=row.timezone,
            enabled=row.enabled,
            origin=row.origin,
            created_at=row.created_at,
        )


class ScheduleRun(BaseModel):
    """One run of a schedule, as the history shows it."""

    id: int
    schedule_id: int
    fire_time: datetime
    trigger: RunTrigger
    requested_by: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus
    error: str | None = None
    trace_id: str | None = None
    message_channel: str | None = None
    message_ts: str | None = None
    message_link: str | None = None

    @classmethod
    def from_row(cls, row: ScheduleRunRow) -> ScheduleRun:
        return cls.model_validate(row, from_attributes=True)


class ScheduleListing(BaseModel):
    """A schedule with what ``/schedule list`` shows next to it."""

    schedule: Schedule
    next_run: datetime | None = None
    last_run: ScheduleRun | None = None


class ScheduleDeclaration(BaseModel):
    """A ``[[schedules]]`` entry in the config file; upserted at start with origin ``config``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    instruction: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    timezone: str | None = None
    # Identity across restarts; defaults to the channel and instruction, so editing ``when`` updates in place.
    name: str | None = Field(default=None, min_length=1, max_length=150)

    @field_validator("when")
    @classmethod
    def _parseable(cls, value: str) -> str:
        parse_when(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else validate_timezone(value)

    @property
    def key(self) -> str:
        if self.name is not None:
            return f"name:{self.name}"
        digest = hashlib.sha256(f"{self.channel}\n{self.instruction}".encode()).hexdigest()[:32]
        return f"auto:{digest}"


def validate_timezone(name: str) -> str:
    """Check an IANA time zone name (``Europe/Berlin``); raise ScheduleInputError naming the problem."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleInputError(
            f"{name!r} is not a known time zone; use an IANA name such as Europe/Berlin or America/New_York"
        ) from None
    return name


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """The APScheduler trigger for a stored (already normalised) cron expression."""
    return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))
