"""Which curated answer, if any, answers a new question: a hybrid score, then the checks that decide serving.

The score is the weighted mean of two halves, both in [0, 1]:

* lexical: the IDF-weighted Dice overlap of the two questions' PostgreSQL lexemes (stemmed as the knowledge index
  stems passages; IDF from the index's BM25 statistics), so "rotate" and "rotating" meet and "the" counts little;
* semantic: the cosine similarity of the questions' embeddings (the index's embedder), so paraphrases with other
  words still meet. A stored embedding from another embedder is not compared (scored 0).

A candidate at or above ``CuratedConfig.threshold`` is served only when it may be: the asking channel is in its
channel list (if it has one), every cited source is within the channel's sources and readable by every reader of
the answer (``ReaderScope.may_read``), and no cited source changed since the correction (a changed one sends the
answer to review instead). Otherwise the next candidate is tried. Candidates below the threshold but above
``context_threshold`` that pass the same checks are handed to the agent as context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.answers import Asker
from agents.config import CuratedConfig
from agents.curated.curated_store import CuratedAnswer, CuratedCandidate, CuratedStore
from knowledge import Embedder, cited_documents_by_id, lexeme_weights, text_lexemes


class ScoredCandidate(BaseModel):
    answer: CuratedAnswer
    score: float
    lexical: float
    semantic: float


class CuratedMatch(BaseModel):
    """What the matcher found for one question."""

    # The curated answer to serve instead of running the agent; None: run the agent.
    served: ScoredCandidate | None = None
    # Close but not close enough: given to the agent as context.
    context: list[ScoredCandidate] = Field(default_factory=list)


class CuratedMatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: CuratedStore,
        embedder: Embedder | None,
        config: CuratedConfig,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._embedder = embedder
        self.config = config

    async def score(self, question: str, candidates: Sequence[CuratedCandidate]) -> list[ScoredCandidate]:
        """Every candidate scored against ``question``, best first."""
        if not candidates:
            return []
        (query_lexemes,) = await text_lexemes(self._sessions, [question])
        all_lexemes = set(query_lexemes).union(*(candidate.lexemes for candidate in candidates))
        weights = await lexeme_weights(self._sessions, all_lexemes)
        query_vector: list[float] | None = None
        if self._embedder is not None and any(c.embedding is not None for c in candidates):
            (query_vector,) = await self._embedder.embed([question])
        scored = []
        for candidate in candidates:
            lexical = _weighted_dice(set(query_lexemes), set(candidate.lexemes), weights)
            semantic = 0.0
            if (
                query_vector is not None
                and candidate.embedding is not None
                and self._embedder is not None
                and candidate.embedder == self._embedder.name
            ):
                semantic = max(0.0, _cosine(query_vector, candidate.embedding))
            scored.append(
                ScoredCandidate(
                    answer=candidate.answer,
                    score=self._fused(lexical, semantic),
                    lexical=lexical,
                    semantic=semantic,
                )
            )
        scored.sort(key=lambda item: (-item.score, item.answer.id))
        return scored

    def _fused(self, lexical: float, semantic: float) -> float:
        total = self.config.lexical_weight + self.config.semantic_weight
        if total <= 0:
            return 0.0
        return (self.config.lexical_weight * lexical + self.config.semantic_weight * semantic) / total

    async def match(self, question: str, asker: Asker) -> CuratedMatch:
        """The curated answer to serve to ``asker`` for ``question`` (if any) and the ones to use as context."""
        if not self.config.enabled:
            return CuratedMatch()
        scored = await self.score(question, await self._store.candidates(asker.workspace_id))
        result = CuratedMatch()
        for candidate in scored:
            if candidate.score < self.config.context_threshold:
                break
            if not await self._may_serve(candidate.answer, asker):
                continue
            if candidate.score >= self.config.threshold and result.served is None:
                result.served = candidate
            elif len(result.context) < self.config.context_limit:
                result.context.append(candidate)
            if result.served is not None and len(result.context) >= self.config.context_limit:
                break
        return result

    async def _may_serve(self, answer: CuratedAnswer, asker: Asker) -> bool:
        if answer.channels and asker.conversation_id not in answer.channels:
            return False
        sources = answer.live.sources
        if asker.sources is not None and any(source.source not in asker.sources for source in sources):
            return False
        documents = await cited_documents_by_id(self._sessions, [source.document_id for source in sources])
        for source in sources:
            document = documents.get(source.document_id)
            if document is None:
                await self._store.flag(answer.id, f"its source {source.url} is no longer in the knowledge index")
                return False
            if document.content_hash != source.content_hash:
                await self._store.flag(answer.id, f"its source {source.url} changed since the correction")
                return False
            if not asker.scope.may_read(document.access):
                return False
        return True


def _weighted_dice(query: set[str], stored: set[str], weights: dict[str, float]) -> float:
    total = sum(weights.get(lexeme, 0.0) for lexeme in query) + sum(weights.get(lexeme, 0.0) for lexeme in stored)
    if total <= 0:
        return 0.0
    return 2 * sum(weights.get(lexeme, 0.0) for lexeme in query & stored) / total


def _cosine(left: Sequence[float], right: Sequence[float]) -> float:
    if len(left) != len(right):
        return 0.0
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    norms = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
    return dot / norms if norms else 0.0
