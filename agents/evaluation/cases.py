"""Evaluation sets and their cases: stored versioned in the database, moved to and from JSON lines kept in git.

A case is identified in its set by ``key`` (given in the file, or derived from the question). Importing a case whose
content changed appends a version and retires the old one; the old grades keep pointing at the version they graded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.errors import EvaluationInputError, EvaluationSetNotFoundError
from agents.evaluation.tables import EvaluationCaseRow, EvaluationSetRow

SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_QUESTION_CHARS = 4_000


class CaseSpec(BaseModel):
    """One case as written in a file (one JSON object a line) or built from a rated answer."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    expected_facts: list[str] = Field(default_factory=list)
    expected_sources: list[str] = Field(default_factory=list)
    answerable: bool = True
    reference_answer: str = ""
    key: str | None = Field(default=None, max_length=64)
    origin_trace_id: str | None = None

    @field_validator("expected_facts", "expected_sources")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        return [value.strip() for value in values if value.strip()]

    def case_key(self) -> str:
        """The given key, else a stable one from the normalised question."""
        if self.key:
            return self.key
        normalised = " ".join(self.question.lower().split())
        return hashlib.sha256(normalised.encode()).hexdigest()[:16]


class EvaluationCase(CaseSpec):
    """A stored case: the current version of one key in one set."""

    id: int
    set_name: str
    version: int
    author: str
    created_at: datetime


class EvaluationSetSummary(BaseModel):
    name: str
    cases: int
    created_at: datetime


class ImportSummary(BaseModel):
    added: int = 0
    changed: int = 0
    unchanged: int = 0


def parse_case_lines(text: str, *, origin: str = "input") -> list[CaseSpec]:
    """Cases from JSON lines (blank lines skipped).

    Raises:
        EvaluationInputError: naming the line and what is wrong with it.
    """
    cases: list[CaseSpec] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(CaseSpec.model_validate_json(line))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in error.errors())
            raise EvaluationInputError(
                f"{origin}:{number}: {problems} (expected {{question, expected_facts: [...], "
                f"expected_sources: [...], answerable: true|false}})"
            ) from None
    keys = [case.case_key() for case in cases]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise EvaluationInputError(f"{origin}: two cases share the key {duplicate!r} (the same question twice?)")
    return cases


def case_lines(cases: Iterable[EvaluationCase]) -> str:
    """The export format: one JSON object a line, keys in a fixed order, so a diff in git reads well."""
    lines = []
    for case in cases:
        spec = CaseSpec.model_validate(case.model_dump(include=set(CaseSpec.model_fields)))
        lines.append(json.dumps(spec.model_dump(exclude_none=True), ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


class EvaluationSetStore:
    """Named evaluation sets of versioned cases."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def import_cases(self, set_name: str, cases: Iterable[CaseSpec], *, author: str) -> ImportSummary:
        """Add or update cases in ``set_name`` (created if new); a case whose content is unchanged is left alone."""
        summary = ImportSummary()
        async with self._sessions.begin() as session:
            await self._ensure_set(session, set_name)
            for case in cases:
                outcome = await self._store(session, set_name, case, author)
                setattr(summary, outcome, getattr(summary, outcome) + 1)
        return summary

    async def add_case(self, set_name: str, case: CaseSpec, *, author: str) -> EvaluationCase:
        """Store one case (a new version if its key exists) and return it as stored."""
        async with self._sessions.begin() as session:
            await self._ensure_set(session, set_name)
            await self._store(session, set_name, case, author)
        stored = [c for c in await self.cases(set_name) if c.key == case.case_key()]
        return stored[0]

    async def retire_case(self, set_name: str, key: str) -> bool:
        """Take a case out of its set (its old grades keep their version); False when it was not there."""
        async with self._sessions.begin() as session:
            current = await _current_case(session, set_name, key)
            if current is None:
                return False
            current.retired_at = datetime.now(UTC)
        return True

    async def cases(self, set_name: str) -> list[EvaluationCase]:
        """The current version of every case in the set, oldest case first.

        Raises:
            EvaluationSetNotFoundError: naming the sets that exist.
        """
        async with self._sessions() as session:
            if await session.get(EvaluationSetRow, set_name) is None:
                names = ", ".join(await session.scalars(select(EvaluationSetRow.name).order_by(EvaluationSetRow.name)))
                raise EvaluationSetNotFoundError(
                    f"no evaluation set named {set_name!r}; sets are: {names or '(none yet)'}; "
                    "create one with `switchboard eval import --set NAME FILE`"
                )
            rows = await session.scalars(
                select(EvaluationCaseRow)
                .where(EvaluationCaseRow.set_name == set_name, EvaluationCaseRow.retired_at.is_(None))
                .order_by(EvaluationCaseRow.id)
            )
            return [_case(row) for row in rows]

    async def sets(self) -> list[EvaluationSetSummary]:
        counts = (
            select(EvaluationCaseRow.set_name, func.count().label("cases"))
            .where(EvaluationCaseRow.retired_at.is_(None))
            .group_by(EvaluationCaseRow.set_name)
            .subquery()
        )
        async with self._sessions() as session:
            rows = await session.execute(
                select(EvaluationSetRow, func.coalesce(counts.c.cases, 0))
                .outerjoin(counts, counts.c.set_name == EvaluationSetRow.name)
                .order_by(EvaluationSetRow.name)
            )
            return [
                EvaluationSetSummary(name=row.name, cases=int(cases), created_at=row.created_at)
                for row, cases in rows.all()
            ]

    async def _ensure_set(self, session: AsyncSession, set_name: str) -> None:
        if not SET_NAME.match(set_name):
            raise EvaluationInputError(
                f"evaluation set name {set_name!r} must be lowercase letters, digits, '.', '_' or '-' (up to 64)"
            )
        await session.execute(insert(EvaluationSetRow).values(name=set_name).on_conflict_do_nothing())

    async def _store(self, session: AsyncSession, set_name: str, case: CaseSpec, author: str) -> str:
        key = case.case_key()
        current = await _current_case(session, set_name, key)
        content = case.model_dump(exclude={"key", "origin_trace_id"})
        if current is not None and _content(current) == content:
            return "unchanged"
        version = 1
        if current is not None:
            current.retired_at = datetime.now(UTC)
            version = current.version + 1
            await session.flush()
        session.add(
            EvaluationCaseRow(
                set_name=set_name,
                case_key=key,
                version=version,
                question=case.question,
                expected_facts=case.expected_facts,
                reference_answer=case.reference_answer,
                expected_sources=case.expected_sources,
                answerable=case.answerable,
                origin_trace_id=case.origin_trace_id,
                author=author,
            )
        )
        await session.flush()
        return "added" if current is None else "changed"


async def _current_case(session: AsyncSession, set_name: str, key: str) -> EvaluationCaseRow | None:
    """The current version of a case, locked for the change about to be made."""
    return await session.scalar(
        select(EvaluationCaseRow)
        .where(
            EvaluationCaseRow.set_name == set_name,
            EvaluationCaseRow.case_key == key,
            EvaluationCaseRow.retired_at.is_(None),
        )
        .with_for_update()
    )


def _content(row: EvaluationCaseRow) -> dict[str, object]:
    return {
        "question": row.question,
        "expected_facts": list(row.expected_facts),
        "expected_sources": list(row.expected_sources),
        "answerable": row.answerable,
        "reference_answer": row.reference_answer,
    }


def _case(row: EvaluationCaseRow) -> EvaluationCase:
    return EvaluationCase(
        id=row.id,
        set_name=row.set_name,
        version=row.version,
        key=row.case_key,
        question=row.question,
        expected_facts=list(row.expected_facts),
        expected_sources=list(row.expected_sources),
        answerable=row.answerable,
        reference_answer=row.reference_answer,
        origin_trace_id=row.origin_trace_id,
        author=row.author,
        created_at=row.created_at,
    )
