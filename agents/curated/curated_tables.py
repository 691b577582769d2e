"""The curated-answer tables: one row per corrected question (status, live version, match keys, use counts) and
every version its editors wrote (append-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import REAL, BigInteger, DateTime, ForeignKey, Identity, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from knowledge import Base


class CuratedAnswerRow(Base):
    __tablename__ = "agent_curated_answers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(200), default="default")
    # active: served; needs_review: a cited source changed or went away; retired: never served again.
    status: Mapped[str] = mapped_column(String(20), default="active")
    review_reason: Mapped[str] = mapped_column(Text, default="")
    live_version: Mapped[int] = mapped_column(Integer)
    # Slack channel ids it may be served in; empty: every channel.
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # The live question's PostgreSQL lexemes and embedding: the two halves of the hybrid match.
    question_lexemes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    question_embedding: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))
    embedder: Mapped[str] = mapped_column(String(300), default="")
    hit_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CuratedAnswerVersionRow(Base):
    __tablename__ = "agent_curated_answer_versions"
    __table_args__ = (UniqueConstraint("curated_id", "version", name="uq_agent_curated_answer_versions_version"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    curated_id: Mapped[int] = mapped_column(ForeignKey("agent_curated_answers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    # CuratedSource dumps: each cited document with its content hash when the correction was written.
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    origin_trace_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
