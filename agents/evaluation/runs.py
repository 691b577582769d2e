"""Evaluation runs: answer every case of a set with a candidate prompt version and with the live one, grade both
with every grader, store the grades, and say whether the candidate is worse beyond the configured threshold."""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import BaseModel, Field

from agents.answers import AgentRequest, AgentRunner, Asker
from agents.evaluation.cases import EvaluationCase, EvaluationSetStore
from agents.evaluation.config import EvaluationConfig
from agents.evaluation.graders import CaseOutcome, CitedSource, Grade, GraderRegistry, GradingContext
from agents.evaluation.run_records import CaseDifference, CaseResult, EvaluationRunStore, RunReport, tally
from agents.model_gateway import ChatModel
from agents.prompts import PromptStore
from agents.traces import TraceStore
from knowledge import ReaderScope, Retriever

logger = logging.getLogger(__name__)

JUDGE_PROMPT = "eval_judge"
# Evaluation runs ask as an anonymous employee: sets should point only at documents everyone may read.
EVALUATION_USER = "switchboard-eval"


class Comparison(BaseModel):
    """A candidate version against the live one on the same set."""

    candidate: RunReport
    live: RunReport
    threshold: float
    differences: list[CaseDifference] = Field(default_factory=list)

    @property
    def regressions(self) -> dict[str, float]:
        """Graders whose pass rate dropped by more than the threshold, with the drop."""
        live, candidate = self.live.rates, self.candidate.rates
        return {
            name: round(live[name] - candidate.get(name, 0.0), 6)
            for name in live
            if live[name] - candidate.get(name, 0.0) > self.threshold + 1e-9
        }

    @property
    def passed(self) -> bool:
        return not self.regressions


class EvaluationRunner:
    """Runs evaluation sets through the agent runtime; graders are plugins (``GraderRegistry``)."""

    def __init__(
        self,
        *,
        sets: EvaluationSetStore,
        runs: EvaluationRunStore,
        runner: AgentRunner,
        prompts: PromptStore,
        traces: TraceStore,
        graders: GraderRegistry,
        model: ChatModel | None,
        retriever: Retriever | None,
        config: EvaluationConfig | None = None,
    ) -> None:
        self.sets = sets
        self.runs = runs
        self._runner = runner
        self._prompts = prompts
        self._traces = traces
        self._graders = graders
        self._model = model
        self._retriever = retriever
        self.config = config or EvaluationConfig()

    @property
    def grader_names(self) -> list[str]:
        return self._graders.names()

    async def compare(self, set_name: str, prompt_name: str, candidate_version: int) -> Comparison:
        """Run the set with ``candidate_version`` and with the live version of ``prompt_name`` (once, if they are
        the same version), store both runs, and compare them.

        Raises:
            EvaluationSetNotFoundError: no such set.
            PromptNotFoundError: no such prompt or version.
        """
        cases = await self.sets.cases(set_name)
        candidate = await self._prompts.get(prompt_name, candidate_version)
        live = await self._prompts.get(prompt_name)
        candidate_report = await self.run(set_name, prompt_name, candidate.version, cases=cases)
        live_report = (
            candidate_report
            if live.version == candidate.version
            else await self.run(set_name, prompt_name, live.version, cases=cases)
        )
        differences = await self.runs.differences(live_report.run_id, candidate_report.run_id)
        return Comparison(
            candidate=candidate_report,
            live=live_report,
            threshold=self.config.regression_threshold,
            differences=differences,
        )

    async def run(
        self, set_name: str, prompt_name: str, version: int, *, cases: list[EvaluationCase] | None = None
    ) -> RunReport:
        """Answer every case with ``version`` of ``prompt_name``, grade each answer, store the run."""
        cases = cases if cases is not None else await self.sets.cases(set_name)
        model_name = self._model.model if self._model is not None else "none"
        run_id = await self.runs.start(set_name, prompt_name, version, model_name)
        judge_prompt = await self._prompts.get(JUDGE_PROMPT) if self._model is not None else None
        context = GradingContext(
            model=self._model,
            judge_prompt=judge_prompt,
            retriever=self._retriever,
            scope=ReaderScope.single(EVALUATION_USER),
            retrieval_k=self.config.retrieval_k,
        )
        limit = asyncio.Semaphore(self.config.concurrency)
        started = time.perf_counter()

        async def one(case: EvaluationCase) -> CaseResult:
            async with limit:
                return await self._run_case(run_id, case, prompt_name, version, context)

        results = list(await asyncio.gather(*(one(case) for case in cases)))
        report = RunReport(
            run_id=run_id,
            set_name=set_name,
            prompt_name=prompt_name,
            prompt_version=version,
            model=model_name,
            tallies=tally(results),
            results=results,
            wall_seconds=round(time.perf_counter() - started, 3),
        )
        await self.runs.finish(report)
        logger.info(
            "evaluation run %d: %s v%d on %s (%d cases) in %.1f s",
            run_id,
            prompt_name,
            version,
            set_name,
            len(cases),
            report.wall_seconds,
        )
        return report

    async def _run_case(
        self, run_id: int, case: EvaluationCase, prompt_name: str, version: int, context: GradingContext
    ) -> CaseResult:
        asker = Asker(user_id=EVALUATION_USER, channel="cli", scope=context.scope)
        request = AgentRequest(
            question=case.question,
            thread_id=f"eval:{run_id}:{case.id}",
            asker=asker,
            prompt_overrides={prompt_name: version},
            # The prompt is what is measured: an expert's stored answer must not stand in for the model's.
            use_curated=False,
        )
        answer = await self._runner.answer(request)
        trace = await self._traces.get(answer.trace_id)
        outcome = CaseOutcome(
            answer=answer.text,
            citations=[CitedSource(title=c.title, url=c.url) for c in answer.citations],
            mode=answer.mode,
            trace_id=answer.trace_id,
            input_tokens=trace.input_tokens if trace else 0,
            output_tokens=trace.output_tokens if trace else 0,
            latency_ms=trace.total_ms if trace else 0.0,
        )
        grades: dict[str, Grade] = {}
        for grader in self._graders.all():
            grade = await grader.grade(case, outcome, context)
            if grade is not None:
                grades[grader.name] = grade
        return CaseResult(
            case_id=case.id,
            key=case.key or case.case_key(),
            question=case.question,
            answer=answer.text,
            trace_id=answer.trace_id,
            grades=grades,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            latency_ms=outcome.latency_ms,
        )
