"""The protocol every knowledge source (connector) implements, so new connectors plug in without touching sync."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping

from pydantic import BaseModel

from knowledge.documents import SourceDocument


class KnownDocument(BaseModel):
    """What the index remembers of a document from the last sync, handed to the source for incremental fetching."""

    external_id: str
    content_hash: str
    etag: str | None = None
    last_modified: str | None = None


class Unchanged(BaseModel):
    """The source knows, without fetching the body, that a document has not changed (e.g. HTTP 304)."""

    external_id: str


class FetchFailure(BaseModel):
    """One document could not be fetched or parsed; the sync records it and goes on.

    An ordinary failure keeps the copy indexed at an earlier sync (the next sync may fetch it again). ``refused``
    says the source will not read the document at all (a symlink out of its folder, a redirect off the site, a
    blocked address): a copy indexed earlier is removed, so content that should never have been read does not stay.
    """

    external_id: str
    reason: str
    title: str | None = None
    url: str | None = None
    refused: bool = False


FetchResult = SourceDocument | Unchanged | FetchFailure


class Source(ABC):
    """A connector: yields every document it can currently see.

    The sync engine treats the listing as complete (and deletes documents that were not yielded) only if
    ``fetch`` finished without raising and ``listing_complete`` is true afterwards; a source that stopped early (a
    page limit, an unreachable sitemap) sets it to false so nothing is wrongly deleted.
    """

    name: str
    listing_complete: bool = True

    @abstractmethod
    def fetch(self, known: Mapping[str, KnownDocument]) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        """Yield each document (or ``Unchanged`` / ``FetchFailure`` for it); ``known`` enables conditional fetches."""

    async def aclose(self) -> None:  # noqa: B027 - sources without clients have nothing to close
        """Release HTTP clients or files."""
