"""A source over an in-memory list of documents, and an embedder that counts its calls.

The list is mutable between syncs, which is how tests edit, delete, fail and crash documents.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from knowledge import Embedder, SourceDocument
from knowledge.sources import FetchFailure, FetchResult, KnownDocument, Source, Unchanged


class ListSource(Source):
    """Yields the documents in ``documents`` (and any ``FetchFailure``/``Unchanged`` placed there) in order.

    ``crash_after`` makes ``fetch`` raise after that many results, like a connector whose server went away.
    """

    def __init__(
        self,
        name: str,
        documents: list[SourceDocument | FetchFailure | Unchanged],
        *,
        crash_after: int | None = None,
        listing_complete: bool = True,
    ) -> None:
        self.name = name
        self.documents = documents
        self.crash_after = crash_after
        self.listing_complete = listing_complete
        self.known_seen: dict[str, KnownDocument] = {}

    async def fetch(self, known: Mapping[str, KnownDocument]) -> AsyncIterator[FetchResult]:
        self.known_seen = dict(known)
        for index, item in enumerate(self.documents):
            if self.crash_after is not None and index >= self.crash_after:
                raise ConnectionError(f"{self.name} went away after {index} documents")
            yield item


class CountingEmbedder(Embedder):
    """Wraps a real embedder, counting calls and texts; ``name`` may be overridden to simulate a model change."""

    def __init__(self, inner: Embedder, name: str | None = None) -> None:
        self.inner = inner
        self._name = name
        self.calls = 0
        self.texts = 0

    @property
    def name(self) -> str:
        return self._name or self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return await self.inner.embed(texts)

    def reset(self) -> None:
        self.calls = 0
        self.texts = 0
