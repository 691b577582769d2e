"""The Slack channel's tables: received events (dedupe and recovery), answered threads, posted answers, ratings
and the audit log of changes made from the chat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowledge import Base


class SlackEvent(Base):
    """One Events API delivery, recorded in the same transaction that queues its answer job, so that a Slack retry
    never queues it twice; a retried job finds the "working on it" message it answers in."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    working_ts: Mapped[str | None] = mapped_column(String(32))


class SlackThread(Base):
    """A thread the bot answered in: later replies in it continue the conversation without a mention."""

    __tablename__ = "slack_threads"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    thread_ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlackAnswer(Base):
    """An answer as posted, so ratings are stored against the exact prompt versions and sources it used."""

    __tablename__ = "slack_answers"

    trace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32))
    asker_id: Mapped[str] = mapped_column(String(32))
    prompt_versions: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    source_urls: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlackFeedback(Base):
    """One person's rating of one answer; a second click replaces it."""

    __tablename__ = "slack_feedback"

    trace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rating: Mapped[int] = mapped_column(SmallInteger)  # +1 or -1
    comment: Mapped[str | None] = mapped_column(Text)
    prompt_versions: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    source_urls: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditEntry(Base):
    """A change someone made from the chat (a prompt edit, a schedule added): who, what, when, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
