"""What a sync reports: progress while it runs, a summary when it ends, and the stored history `/kb status` shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from knowledge.chunking import ChunkingConfig
from knowledge.documents import AccessList

RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


class SyncConfig(BaseModel):
    """How the sync engine works; the defaults suit both a laptop and a small server."""

    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    # Documents written per transaction: small enough that a crash loses little, big enough to amortise round trips.
    batch_documents: int = Field(default=64, ge=1)
    # Flush earlier when a batch holds this many chunks, so one embedding call stays a sensible size.
    batch_chunks: int = Field(default=512, ge=1)
    # Chunks a run writes before a large load switches to bulk mode (knowledge.bulk_load; measured crossover).
    bulk_load_after_chunks: int = Field(default=1000, ge=1)


class DocumentFailure(BaseModel):
    """One document that could not be synced, and why."""

    external_id: str
    reason: str
    title: str | None = None
    url: str | None = None
    # Who may read the document, when known (from the document itself, or its indexed version); None: unknown,
    # and then its title is shown to nobody.
    access: AccessList | None = None


class SyncCounts(BaseModel):
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    # Unchanged documents whose vectors were rebuilt because the embedding model changed.
    reembedded: int = 0


class SyncProgress(SyncCounts):
    """Handed to the progress callback after every document."""

    source: str
    seen: int = 0
    # Documents the source had at the previous sync: an estimate for a progress bar, None on a first sync.
    total: int | None = None


ProgressCallback = Callable[[SyncProgress], None]


class SyncSummary(SyncCounts):
    """The result of one sync run."""

    run_id: int
    source: str
    status: RunStatus
    full: bool = False
    # False when the source stopped early: then nothing was deleted.
    listing_complete: bool = True
    failures: list[DocumentFailure] = Field(default_factory=list)
    error: str | None = None
    embedded_chunks: int = 0
    embedding_seconds: float = 0.0
    # Building the search indexes once at the end of a bulk load (knowledge.bulk_load); 0 without one.
    index_build_seconds: float = 0.0
    seconds: float = 0.0


class SyncRunRecord(SyncCounts):
    """A stored sync run, as `/kb status` lists it."""

    run_id: int
    source: str
    status: RunStatus
    full: bool
    started_at: datetime
    finished_at: datetime | None
    error: str | None = None
    failures: list[DocumentFailure] = Field(default_factory=list)


class SourceStatus(BaseModel):
    """One source's size in the index and its latest sync."""

    source: str
    documents: int
    chunks: int
    last_run: SyncRunRecord | None = None
    # Documents visible to nobody because the source could not say who may read them (fail closed), and a reason.
    unreadable_permissions: int = 0
    unreadable_reason: str | None = None
    # SaaS sources: when groups and access lists were last re-read, and what went wrong then.
    permissions_synced_at: datetime | None = None
    permissions_error: str | None = None


class KnowledgeStatus(BaseModel):
    sources: list[SourceStatus]
