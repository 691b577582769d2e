"""Stored evaluation runs: one summary per run and one grade per case per grader, and the differences of two runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.errors import EvaluationInputError
from agents.evaluation.graders import Grade
from agents.evaluation.tables import EvaluationCaseRow, EvaluationGradeRow, EvaluationRunRow


class GraderTally(BaseModel):
    passed: int = 0
    applicable: int = 0

    @property
    def rate(self) -> float | None:
        return self.passed / self.applicable if self.applicable else None


class CaseResult(BaseModel):
    case_id: int
    key: str
    question: str
    answer: str
    trace_id: str
    grades: dict[str, Grade] = Field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


class RunReport(BaseModel):
    """One version of a prompt answering a whole set."""

    run_id: int
    set_name: str
    prompt_name: str
    prompt_version: int
    model: str = ""
    tallies: dict[str, GraderTally] = Field(default_factory=dict)
    results: list[CaseResult] = Field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def rates(self) -> dict[str, float]:
        """Pass rate per grader, over the cases it applies to (graders that applied to none are left out)."""
        return {name: rate for name, tally in sorted(self.tallies.items()) if (rate := tally.rate) is not None}

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.results)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.results)

    def latency_percentile(self, share: float) -> float:
        latencies = sorted(r.latency_ms for r in self.results)
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))]


class CaseDifference(BaseModel):
    """A case one grader judged differently in two runs."""

    key: str
    question: str
    grader: str
    before: bool | None
    after: bool | None
    detail: str = ""


def tally(results: list[CaseResult]) -> dict[str, GraderTally]:
    tallies: dict[str, GraderTally] = {}
    for result in results:
        for name, grade in result.grades.items():
            counted = tallies.setdefault(name, GraderTally())
            counted.applicable += 1
            counted.passed += 1 if grade.passed else 0
    return tallies


class EvaluationRunStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def start(self, set_name: str, prompt_name: str, prompt_version: int, model: str) -> int:
        async with self._sessions.begin() as session:
            row = EvaluationRunRow(
                set_name=set_name, prompt_name=prompt_name, prompt_version=prompt_version, model=model, summary={}
            )
            session.add(row)
            await session.flush()
            return int(row.id)

    async def finish(self, report: RunReport) -> None:
        """Store every grade and the run's summary."""
        summary: dict[str, Any] = {
            "graders": {name: t.model_dump() for name, t in report.tallies.items()},
            "cases": len(report.results),
            "input_tokens": report.input_tokens,
            "output_tokens": report.output_tokens,
            "latency_ms_p50": report.latency_percentile(0.5),
            "latency_ms_p95": report.latency_percentile(0.95),
            "wall_seconds": report.wall_seconds,
        }
        async with self._sessions.begin() as session:
            for result in report.results:
                for name, grade in result.grades.items():
                    session.add(
                        EvaluationGradeRow(
                            run_id=report.run_id,
                            case_id=result.case_id,
                            grader=name,
                            passed=grade.passed,
                            score=grade.score,
                            detail=grade.detail,
                            trace_id=result.trace_id,
                        )
                    )
            run = await session.get(EvaluationRunRow, report.run_id)
            if run is not None:
                run.summary = summary
                run.finished_at = datetime.now(UTC)

    async def differences(self, before_run: int, after_run: int) -> list[CaseDifference]:
        """Per case and grader, where the two runs disagree (cases are matched by key, so a new case version of
        the same question still compares)."""
        before, after = await self._grades(before_run), await self._grades(after_run)
        found = []
        for key_grader in sorted(set(before) | set(after)):
            old, new = before.get(key_grader), after.get(key_grader)
            old_passed = old[1] if old else None
            new_passed = new[1] if new else None
            if old_passed != new_passed:
                question = (new or old or ("", None, ""))[0]
                detail = (new or old or ("", None, ""))[2]
                found.append(
                    CaseDifference(
                        key=key_grader[0],
                        question=question,
                        grader=key_grader[1],
                        before=old_passed,
                        after=new_passed,
                        detail=detail,
                    )
                )
        return found

    async def _grades(self, run_id: int) -> dict[tuple[str, str], tuple[str, bool, str]]:
        async with self._sessions() as session:
            if await session.get(EvaluationRunRow, run_id) is None:
                raise EvaluationInputError(f"there is no evaluation run #{run_id}")
            rows = await session.execute(
                select(EvaluationCaseRow.case_key, EvaluationCaseRow.question, EvaluationGradeRow)
                .join(EvaluationCaseRow, EvaluationCaseRow.id == EvaluationGradeRow.case_id)
                .where(EvaluationGradeRow.run_id == run_id)
            )
            return {(key, grade.grader): (question, grade.passed, grade.detail) for key, question, grade in rows.all()}
