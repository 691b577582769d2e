"""The protocol every knowledge source (connector) implements, so new connectors plug in without touching sync."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pydantic import BaseModel

from knowledge.documents import AccessList, SourceDocument


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
    # Who may read the document, when the source knows without reading it; decides who sees this failure's title.
    access: AccessList | None = None
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
    # Where a resumable source has got to: JSON-native state it updates only *between* yields, once every result
    # yielded before is covered. The engine stores it after each committed batch and hands it back via ``resume``.
    checkpoint: dict[str, Any] | None = None

    @abstractmethod
    def fetch(self, known: Mapping[str, KnownDocument]) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        """Yield each document (or ``Unchanged`` / ``FetchFailure`` for it); ``known`` enables conditional fetches."""

    def resume(self, checkpoint: dict[str, Any] | None) -> None:  # noqa: B027 - most sources start afresh each run
        """Continue from the checkpoint the last run stored (None: there is none); called before ``fetch``."""

    async def aclose(self) -> None:  # noqa: B027 - sources without clients have nothing to close
        """Release HTTP clients or files."""
