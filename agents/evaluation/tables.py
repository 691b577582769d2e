"""Evaluation sets, their versioned cases, and runs with one stored grade per case per grader (so runs compare)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowledge import Base


class EvaluationSetRow(Base):
    __tablename__ = "eval_sets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EvaluationCaseRow(Base):
    """One version of one case; editing a case appends a version and retires the previous one."""

    __tablename__ = "eval_cases"
    __table_args__ = (
        Index("eval_cases_current_idx", "set_name", "case_key", unique=True, postgresql_where="retired_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    set_name: Mapped[str] = mapped_column(ForeignKey("eval_sets.name", ondelete="CASCADE"))
    case_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(Text)
    expected_facts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    reference_answer: Mapped[str] = mapped_column(Text, default="")
    expected_sources: Mapped[list[str]] = mapped_column(JSONB, default=list)
    answerable: Mapped[bool] = mapped_column(Boolean, default=True)
    origin_trace_id: Mapped[str | None] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EvaluationRunRow(Base):
    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    set_name: Mapped[str] = mapped_column(String(64), index=True)
    prompt_name: Mapped[str] = mapped_column(String(64))
    prompt_version: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per grader: {"passed": n, "applicable": n, "rate": r}; plus totals of tokens and latency.
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class EvaluationGradeRow(Base):
    __tablename__ = "eval_grades"

    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("eval_cases.id", ondelete="CASCADE"), primary_key=True)
    grader: Mapped[str] = mapped_column(String(64), primary_key=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")
    trace_id: Mapped[str] = mapped_column(String(64))
