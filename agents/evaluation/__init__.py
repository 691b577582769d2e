"""Evaluation: what people rated becomes named sets of versioned cases, graded by plugins, run per prompt version."""

from agents.evaluation.cases import (
    CaseSpec,
    EvaluationCase,
    EvaluationSetStore,
    EvaluationSetSummary,
    ImportSummary,
    case_lines,
    parse_case_lines,
)
from agents.evaluation.config import EvaluationConfig
from agents.evaluation.graders import CaseOutcome, Grade, Grader, GraderRegistry, GradingContext
from agents.evaluation.prompt_gate import GatedChange, PromptGate
from agents.evaluation.reports import comparison_json, comparison_table
from agents.evaluation.run_records import CaseDifference, CaseResult, EvaluationRunStore, GraderTally, RunReport
from agents.evaluation.runs import Comparison, EvaluationRunner
from agents.evaluation.statistics import wilson_interval

__all__ = [
    "CaseDifference",
    "CaseOutcome",
    "CaseResult",
    "CaseSpec",
    "Comparison",
    "EvaluationCase",
    "EvaluationConfig",
    "EvaluationRunStore",
    "EvaluationRunner",
    "EvaluationSetStore",
    "EvaluationSetSummary",
    "GatedChange",
    "Grade",
    "Grader",
    "GraderRegistry",
    "GraderTally",
    "GradingContext",
    "ImportSummary",
    "PromptGate",
    "RunReport",
    "case_lines",
    "comparison_json",
    "comparison_table",
    "parse_case_lines",
    "wilson_interval",
]
