"""The grader plugin interface: a grader looks at one case and one answer and says pass or fail, with why.

Graders arrive like tools: each is an object declared in the entry-point group ``switchboard.graders`` (the built-ins
are declared the same way in Switchboard's pyproject.toml). A grader that does not apply to a case (no expected
sources to cite, no model for a judge) returns None, and the case does not count towards its pass rate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from pydantic import BaseModel, Field

from agents.evaluation.cases import EvaluationCase
from agents.model_gateway import ChatModel
from agents.prompts import PromptVersion
from knowledge import ReaderScope, Retriever


class CitedSource(BaseModel):
    title: str
    url: str


class CaseOutcome(BaseModel):
    """What one run of the agent on one case produced."""

    answer: str
    citations: list[CitedSource] = Field(default_factory=list)
    mode: str = "agent"
    trace_id: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0


class Grade(BaseModel):
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    detail: str = ""


@dataclass(frozen=True)
class GradingContext:
    """What graders may use besides the case and the answer: the judge model and prompt, and the index."""

    model: ChatModel | None
    judge_prompt: PromptVersion | None
    retriever: Retriever | None
    scope: ReaderScope
    retrieval_k: int = 5


class Grader(ABC):
    """One way of judging an answer; ``name`` is how reports, the database and the config refer to it."""

    name: str
    description: str = ""

    @abstractmethod
    async def grade(self, case: EvaluationCase, outcome: CaseOutcome, context: GradingContext) -> Grade | None:
        """The grade, or None when this grader does not apply to the case."""
