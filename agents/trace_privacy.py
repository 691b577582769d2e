"""Privacy for stored traces: personal data is redacted before a trace is written, and old traces are deleted.

Redaction covers every free text a trace keeps (question, answer, plan, tool arguments and results, reflections,
notes, error). Emails and phone numbers are recognised built in; ``redact_patterns`` adds regular expressions.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.traces import TraceRecord, TraceRow

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Candidates only: a match counts as a phone number when it has 9 to 15 digits (so dates and short ids stay).
PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().-]{6,}\d(?!\w)")
PHONE_DIGITS = range(9, 16)
EMAIL_MARK, PHONE_MARK, PATTERN_MARK = "[email]", "[phone]", "[redacted]"


class TracePrivacyConfig(BaseModel):
    """``[agent.trace_privacy]`` in the config file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    redact_emails: bool = True
    redact_phone_numbers: bool = True
    # Regular expressions for other personal data (employee ids, ticket references with names, ...).
    redact_patterns: list[str] = Field(default_factory=list)
    # Traces older than this are deleted (at start and daily in ``serve``); None keeps them for ever.
    retention_days: int | None = Field(default=90, ge=1)

    @field_validator("redact_patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"redact pattern {pattern!r} is not a valid regular expression: {error}") from None
        return patterns


class TraceRedactor:
    def __init__(self, config: TracePrivacyConfig | None = None) -> None:
        self.config = config or TracePrivacyConfig()
        self._patterns = [re.compile(pattern) for pattern in self.config.redact_patterns]

    def text(self, text: str) -> str:
        if self.config.redact_emails:
            text = EMAIL.sub(EMAIL_MARK, text)
        if self.config.redact_phone_numbers:
            text = PHONE_CANDIDATE.sub(_phone_or_not, text)
        for pattern in self._patterns:
            text = pattern.sub(PATTERN_MARK, text)
        return text

    def value(self, value: Any) -> Any:
        """Redact every string inside JSON-like data (tool arguments and results, reflections)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def record(self, record: TraceRecord) -> TraceRecord:
        return record.model_copy(
            update={
                "question": self.text(record.question),
                "answer": self.text(record.answer),
                "plan": self.value(record.plan),
                "tool_calls": self.value(record.tool_calls),
                "reflections": self.value(record.reflections),
                "notes": self.value(record.notes),
                "error": None if record.error is None else self.text(record.error),
            }
        )


def _phone_or_not(match: re.Match[str]) -> str:
    digits = sum(character.isdigit() for character in match.group(0))
    return PHONE_MARK if digits in PHONE_DIGITS else match.group(0)


async def delete_expired_traces(
    sessions: async_sessionmaker[AsyncSession], retention_days: int | None, *, now: datetime | None = None
) -> int:
    """Delete traces older than ``retention_days``; returns how many (nothing when retention is off)."""
    if retention_days is None:
        return 0
    cut_off = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    async with sessions.begin() as session:
        result = await session.execute(delete(TraceRow).where(TraceRow.created_at < cut_off))
    return int(getattr(result, "rowcount", 0) or 0)
