"""The retrieval boundary: what the agent asks the index for and what it gets back."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from knowledge.documents import ReaderScope


class SearchQuery(BaseModel):
    text: str = Field(min_length=1)
    # Only documents every reader in the scope may read are ever returned.
    scope: ReaderScope
    limit: int = Field(default=8, ge=1, le=100)
    # Restrict to these source names; None searches every source.
    sources: tuple[str, ...] | None = None


class PassageCopy(BaseModel):
    """Another place the readers may read (nearly) the same text as a passage: named, not repeated."""

    document_id: int
    external_id: str
    source: str
    title: str
    url: str


class Passage(BaseModel):
    """One retrieved chunk with everything needed to cite it."""

    chunk_id: int
    document_id: int
    # The document's stable id within its source (a folder's relative path, a page's URL).
    external_id: str
    source: str
    title: str
    # Absolute URL, with a ``#anchor`` deep link where the source has one.
    url: str
    heading_path: list[str] = Field(default_factory=list)
    text: str
    score: float
    # Position of the passage in its document (0 first), so passages of one section can be shown in reading order.
    ordinal: int | None = None
    # Near-duplicates of this passage among the results, in other places; each is readable by the whole scope.
    also_in: list[PassageCopy] = Field(default_factory=list)


class Retriever(Protocol):
    """Anything that answers a ``SearchQuery`` with passages, best first."""

    async def search(self, query: SearchQuery) -> list[Passage]:
        """Return at most ``query.limit`` passages the whole scope may read."""
        ...
