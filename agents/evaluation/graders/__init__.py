"""Graders: plugins (entry-point group ``switchboard.graders``) that judge one answer to one evaluation case."""

from agents.evaluation.graders.abc import CaseOutcome, CitedSource, Grade, Grader, GradingContext
from agents.evaluation.graders.builtin_graders import declines, source_matches
from agents.evaluation.graders.registry import ENTRY_POINT_GROUP, GraderRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "CaseOutcome",
    "CitedSource",
    "Grade",
    "Grader",
    "GraderRegistry",
    "GradingContext",
    "declines",
    "source_matches",
]
