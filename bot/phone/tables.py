"""The phone line's tables: calls, their transcripts, agent answers in progress, and filed intakes.

Transcripts live only here (never in logs or Slack); an intake points back to its call by ``call_sid``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.database import Base


class PhoneCall(Base):
    """One call, keyed by Twilio's ``CallSid``; also the agent thread's id."""

    __tablename__ = "phone_calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller_number: Mapped[str] = mapped_column(String(32), default="")
    called_number: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    follow_up_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Consecutive gathers without usable speech; reset by the next one that has some.
    silent_gathers: Mapped[int] = mapped_column(Integer, default=0)
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the caller was put through to a person (``<Dial>``); the intake says so.
    handed_over_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PhoneTurn(Base):
    """One thing said on a call, in order: what the caller said and what the caller heard."""

    __tablename__ = "phone_turns"
    __table_args__ = (UniqueConstraint("call_sid", "position", name="uq_phone_turns_call_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("phone_calls.call_sid", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PhoneAnswer(Base):
    """An agent run for one caller question; outlives the webhook request so a redirect can pick it up."""

    __tablename__ = "phone_answers"
    __table_args__ = (UniqueConstraint("call_sid", "turn", name="uq_phone_answers_call_turn"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("phone_calls.call_sid", ondelete="CASCADE"), index=True)
    # The position of the caller's question in the transcript.
    turn: Mapped[int] = mapped_column(Integer)
    # running -> ready | failed; ready/failed -> delivered (spoken) or abandoned (the caller stopped waiting).
    state: Mapped[str] = mapped_column(String(16), default="running")
    spoken_text: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    holds: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PhoneIntake(Base):
    """The intake filed for a finished call: at most one per call, whatever the status callback repeats."""

    __tablename__ = "phone_intakes"
    # The database, not process memory, makes filing idempotent: replicas and retries race on this constraint.
    __table_args__ = (UniqueConstraint("call_sid", name="uq_phone_intakes_call_sid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("phone_calls.call_sid", ondelete="CASCADE"))
    caller_name: Mapped[str | None] = mapped_column(Text)
    caller_number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[str] = mapped_column(String(16))
    promised: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[bool] = mapped_column(Boolean)
    handed_over: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # "model" (the intake-summary prompt) or "transcript" (built without a model).
    summary_mode: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
