"""Curated answers: experts' corrections, matched to later questions and served without a model call."""

from agents.curated.curated_matching import CuratedMatch, CuratedMatcher, ScoredCandidate
from agents.curated.curated_store import (
    EVALUATION_SET,
    CuratedAnswer,
    CuratedCandidate,
    CuratedSource,
    CuratedStatus,
    CuratedStore,
    CuratedVersion,
)

__all__ = [
    "EVALUATION_SET",
    "CuratedAnswer",
    "CuratedCandidate",
    "CuratedMatch",
    "CuratedMatcher",
    "CuratedSource",
    "CuratedStatus",
    "CuratedStore",
    "CuratedVersion",
    "ScoredCandidate",
]
