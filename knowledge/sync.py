"""The incremental sync engine: brings the index of one source in line with what the source yields now.

Guarantees, in the order a user notices them:

* A re-sync of an unchanged source does almost nothing: the stored hashes of the whole source are loaded in one
  query and compared in memory; unchanged documents (and ``Unchanged`` results such as HTTP 304) are never
  chunked or embedded.
* A changed document's old chunks, new chunks and BM25 statistics change in one transaction; documents are
  written in small batches, each committed, so a crash loses at most one batch and leaves every other document as
  it was. The next run simply finds the written ones unchanged and carries on.
* One bad document (fetch failure, unparsable content, a row PostgreSQL refuses) is recorded with its reason and
  never fails the sync. Deletions happen only after a complete listing, except for documents the source refuses
  to read at all (``FetchFailure.refused``): an earlier copy of those is removed at once.
* Embeddings are cached by chunk text and model: an edit re-embeds only the passages that changed; a new model
  re-embeds everything, even documents the source reports as unchanged.
* Two syncs of the same source never interleave: a PostgreSQL advisory lock serialises them across processes.
* A resumable source's checkpoint is stored with the batch that covers it, so a crash in a long first sync
  resumes where it stopped; a document whose permissions could not be read is recorded as hidden (fail closed).
* A new embedding model's vector index is built concurrently (writes go on) under the schema lock, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge.advisory_locks import holding_advisory_lock
from knowledge.bulk_load import (
    enter_bulk_load,
    estimated_chunks,
    finish_bulk_load,
    recount_lexeme_stats,
    restore_after_interrupted_bulk_load,
    should_enter,
)
from knowledge.chunk_embeddings import cached_embeddings, replace_embeddings, stale_chunks
from knowledge.chunking import MarkdownChunker
from knowledge.connector_state import load_checkpoint, record_access_failures, save_checkpoint
from knowledge.documents import SourceDocument
from knowledge.embedding_models import RegisteredModel, ensure_embedding_model
from knowledge.embeddings import Embedder
from knowledge.index_maintenance import analyze_index
from knowledge.index_tables import SyncRun, SyncRunFailure
from knowledge.index_writer import (
    KnownRow,
    PreparedDocument,
    content_hash,
    delete_documents,
    ensure_source,
    load_known,
    text_hash,
    write_documents,
)
from knowledge.near_duplicates import passage_signatures
from knowledge.sources.abc import FetchFailure, KnownDocument, Source, Unchanged
from knowledge.sync_models import (
    DocumentFailure,
    ProgressCallback,
    SyncConfig,
    SyncProgress,
    SyncSummary,
)
from knowledge.vector_indexes import ensure_model_index

logger = logging.getLogger(__name__)

# First half of the two-key advisory lock taken per source ("SW" "SY"); the second half is hashtext(source name).
_SYNC_LOCK_NAMESPACE = 0x53575359
_TRY_SOURCE_LOCK_SQL = f"SELECT pg_try_advisory_lock({_SYNC_LOCK_NAMESPACE}, hashtext(:name))"
_UNLOCK_SOURCE_LOCK_SQL = f"SELECT pg_advisory_unlock({_SYNC_LOCK_NAMESPACE}, hashtext(:name))"
# Documents added, updated or deleted in one run beyond which the index tables are re-analysed.
_ANALYZE_AFTER_CHANGES = 500


@dataclass
class _Run:
    """Mutable state of one run."""

    source_id: int
    model: RegisteredModel
    known: dict[str, KnownRow]
    summary: SyncSummary
    seen: set[str] = field(default_factory=set)
    pending: list[PreparedDocument] = field(default_factory=list)
    pending_chunks: int = 0
    reembed: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    unsaved_failures: list[DocumentFailure] = field(default_factory=list)
    source: Source | None = None
    stored_checkpoint: dict[str, Any] | None = None
    # Chunks in the whole index when the run began, chunks this run wrote, and whether it is in bulk-load mode.
    chunks_at_start: int = 0
    written_chunks: int = 0
    bulk_load: bool = False
    # The batch being written while the next one is chunked and embedded (Python and PostgreSQL work side by side).
    writing: asyncio.Task[None] | None = None


class SyncEngine:
    """Syncs sources into the index with one embedder; reuse one engine for every source of a service."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], embedder: Embedder, config: SyncConfig | None = None
    ) -> None:
        self._sessions = sessions
        self._embedder = embedder
        self.config = config or SyncConfig()
        self._chunker = MarkdownChunker(self.config.chunking)

    async def sync(
        self, source: Source, *, full: bool = False, progress: ProgressCallback | None = None
    ) -> SyncSummary:
        """Sync ``source`` and return what changed; ``full`` re-chunks and re-embeds every document it yields.

        A failure of the source or the database ends the run with status ``failed`` (the summary says why and the
        log has the traceback); whatever was committed before stays, and the next run resumes from there.
        """
        try:
            async with holding_source_lock(self._sessions, source.name):
                return await self._sync_locked(source, full, progress)
        finally:
            await source.aclose()

    async def _sync_locked(self, source: Source, full: bool, progress: ProgressCallback | None) -> SyncSummary:
        started = time.perf_counter()
        run = await self._start_run(source.name, full)
        run.source = source
        async with self._sessions() as session:
            run.stored_checkpoint = await load_checkpoint(session, run.source_id)
        source.resume(None if full else run.stored_checkpoint)
        known_documents = known_documents_view(run.known)
        total = len(run.known) or None
        try:
            await self._prepare_indexes(run)
            async for result in source.fetch(known_documents):
                await self._take(run, result, full)
                # Chunking is CPU work on this loop. A source that never waits (memory, local files) would keep the
                # batch being written from sending its next statement until this batch is chunked; let it.
                await asyncio.sleep(0)
                if run.pending and (
                    len(run.pending) >= self.config.batch_documents or run.pending_chunks >= self.config.batch_chunks
                ):
                    await self._flush(run)
                if progress is not None:
                    progress(
                        SyncProgress(
                            source=source.name,
                            seen=len(run.seen),
                            total=total,
                            **run.summary.model_dump(include=set(SyncProgress.model_fields) - {"source"}),
                        )
                    )
            await self._flush(run)
            await self._drain(run)
            await self._reembed(run)
            await self._delete_refused(run)
            run.summary.listing_complete = source.listing_complete
            if source.listing_complete:
                await self._delete_missing(run)
            await self._finish_bulk_load(run)
            run.summary.status = "succeeded"
            await self._analyze_after_bulk_changes(run)
        except asyncio.CancelledError:
            run.summary.status = "interrupted"
            run.summary.error = "the sync was cancelled"
            await self._abandon_write(run)
            await asyncio.shield(self._finish_bulk_load(run))
            await self._finish(run, started)
            raise
        except Exception as error:
            logger.exception("sync of source %s failed", source.name)
            await self._keep_fetched(run)
            run.summary.status = "failed"
            run.summary.listing_complete = False
            run.summary.error = f"{type(error).__name__}: {error}"
            await self._finish_bulk_load(run)
        await self._finish(run, started)
        return run.summary

    async def _prepare_indexes(self, run: _Run) -> None:
        """Repair what an interrupted bulk load left, make sure the model's vector index exists, size the index."""
        async with self._sessions() as session, self._sessions() as recount_session:
            connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            await restore_after_interrupted_bulk_load(connection, recount_session)
            await ensure_model_index(connection, run.model.id, run.model.dimensions)
            run.chunks_at_start = await estimated_chunks(connection)

    async def _maybe_enter_bulk_load(self, run: _Run) -> None:
        if run.bulk_load or not should_enter(
            run.written_chunks, run.chunks_at_start, self.config.bulk_load_after_chunks
        ):
            return
        async with self._sessions() as session:
            connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            await enter_bulk_load(connection, run.model.id)
        run.bulk_load = True

    async def _finish_bulk_load(self, run: _Run) -> None:
        """Rebuild what bulk mode dropped; runs on every way out of a run that entered it."""
        if not run.bulk_load:
            return
        run.bulk_load = False
        async with self._sessions() as session, session.begin():
            await recount_lexeme_stats(session, run.source_id)
        began = time.perf_counter()
        async with self._sessions() as session:
            connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            await finish_bulk_load(connection, run.model.id, run.model.dimensions)
        run.summary.index_build_seconds += time.perf_counter() - began

    async def _analyze_after_bulk_changes(self, run: _Run) -> None:
        """A first sync or a big change leaves the planner guessing; fresh statistics keep queries on their indexes."""
        changed = run.summary.added + run.summary.updated + run.summary.deleted
        if changed >= _ANALYZE_AFTER_CHANGES:
            async with self._sessions() as session, session.begin():
                await analyze_index(session)

    async def _keep_fetched(self, run: _Run) -> None:
        """After the source failed, still write the documents it delivered, so the next run has less to do."""
        try:
            await self._drain(run)
        except Exception:
            logger.exception("could not write the batch under way when the sync failed")
        if not run.pending:
            return
        try:
            await self._flush(run)
            await self._drain(run)
        except Exception:
            logger.exception("could not write the %d documents fetched before the failure", len(run.pending))

    async def _start_run(self, source_name: str, full: bool) -> _Run:
        async with self._sessions() as session, session.begin():
            source_id = await ensure_source(session, source_name)
            model = await ensure_embedding_model(session, self._embedder)
            # We hold the source's lock, so a run still marked running belongs to a process that died.
            await session.execute(
                update(SyncRun)
                .where(SyncRun.source_id == source_id, SyncRun.status == "running")
                .values(status="interrupted", finished_at=func.now(), error="the process stopped during the sync")
            )
            record = SyncRun(
                source_id=source_id,
                status="running",
                full=full,
                added=0,
                updated=0,
                unchanged=0,
                deleted=0,
                failed=0,
                reembedded=0,
            )
            session.add(record)
            await session.flush()
            known = await load_known(session, source_id)
        summary = SyncSummary(run_id=record.id, source=source_name, status="running", full=full)
        return _Run(source_id=source_id, model=model, known=known, summary=summary)

    async def _take(self, run: _Run, result: SourceDocument | Unchanged | FetchFailure, full: bool) -> None:
        """Classify one fetch result; changed documents are chunked and queued for the next batch."""
        run.seen.add(result.external_id)
        known = run.known.get(result.external_id)
        if isinstance(result, FetchFailure):
            self._fail(run, DocumentFailure(**result.model_dump()))
            if result.refused and known is not None:
                run.refused.append(known.id)
            return
        if isinstance(result, Unchanged):
            if known is None:
                self._fail(
                    run,
                    DocumentFailure(
                        external_id=result.external_id,
                        reason="the source reported it unchanged, but it is not in the index; run a full sync",
                    ),
                )
            elif known.embedding_model_id != run.model.id:
                run.reembed.append(known.id)
            else:
                run.summary.unchanged += 1
            return
        document = result
        digest = content_hash(document, self.config.chunking)
        if not full and known is not None and known.content_hash == digest:
            if known.embedding_model_id != run.model.id:
                run.reembed.append(known.id)
            else:
                run.summary.unchanged += 1
            return
        try:
            # PostgreSQL text cannot hold NUL; parsers of binary formats occasionally leave one behind.
            chunks = self._chunker.chunk(
                document.title.replace("\x00", ""), document.content.replace("\x00", ""), document.url
            )
        except Exception as error:  # a parser bug on one document must not stop the others
            logger.warning("could not chunk %s: %s", document.external_id, error, exc_info=True)
            self._fail(run, _failure(document, f"could not be split into passages: {error}"))
            return
        run.pending.append(
            PreparedDocument(
                document=_without_nul(document),
                content_hash=digest,
                chunks=chunks,
                text_hashes=[text_hash(chunk.search_text) for chunk in chunks],
                embeddings=[],
            )
        )
        run.pending_chunks += len(chunks)

    def _fail(self, run: _Run, failure: DocumentFailure) -> None:
        run.summary.failed += 1
        run.summary.failures.append(failure)
        run.unsaved_failures.append(failure)

    async def _embed(self, run: _Run, session: AsyncSession, hashes: list[str], texts: list[str]) -> dict[str, Any]:
        """Vectors for these chunk texts: from the cache where the model already embedded them, else computed."""
        vectors = await cached_embeddings(session, run.model.id, hashes)
        missing: dict[str, str] = {}
        for digest, chunk_text in zip(hashes, texts, strict=True):
            if digest not in vectors:
                missing.setdefault(digest, chunk_text)
        if missing:
            began = time.perf_counter()
            computed = await self._embedder.embed(list(missing.values()))
            run.summary.embedding_seconds += time.perf_counter() - began
            run.summary.embedded_chunks += len(computed)
            vectors.update(zip(missing.keys(), computed, strict=True))
        return vectors

    async def _flush(self, run: _Run) -> None:
        """Embed the pending batch, then hand it to a writer task once the previous batch is written.

        The write (PostgreSQL's work) overlaps the chunking and embedding of the next batch (Python's work); only one
        batch is ever being written, so batches still commit in order.
        """
        batch, run.pending, run.pending_chunks = run.pending, [], 0
        # Everything yielded before this checkpoint is in this batch or an earlier one: stored once they are written.
        checkpoint = run.source.checkpoint if run.source is not None else None
        if batch:
            async with self._sessions() as session:
                hashes = [digest for item in batch for digest in item.text_hashes]
                texts = [chunk.search_text for item in batch for chunk in item.chunks]
                # Signing is CPU work too: off the event loop, beside the embedding, not in the writer.
                vectors, signatures = await asyncio.gather(
                    self._embed(run, session, hashes, texts),
                    asyncio.to_thread(passage_signatures, [chunk.text for item in batch for chunk in item.chunks]),
                )
                await session.rollback()
            signed = iter(signatures)
            for item in batch:
                item.embeddings = [vectors[digest] for digest in item.text_hashes]
                item.signatures = [next(signed) for _ in item.chunks]
        await self._drain(run)
        run.writing = asyncio.create_task(self._write_batch(run, batch, checkpoint))

    async def _drain(self, run: _Run) -> None:
        """Wait for the batch being written; its failure is raised here."""
        writing, run.writing = run.writing, None
        if writing is not None:
            await writing

    async def _abandon_write(self, run: _Run) -> None:
        writing, run.writing = run.writing, None
        if writing is not None:
            writing.cancel()
            await asyncio.gather(writing, return_exceptions=True)

    async def _write_batch(self, run: _Run, batch: list[PreparedDocument], checkpoint: dict[str, Any] | None) -> None:
        """Write one batch in one transaction; a batch PostgreSQL refuses is retried per document."""
        if batch:
            try:
                await self._write(run, batch)
            except DBAPIError as batch_error:
                if isinstance(batch_error, OperationalError):
                    raise  # the database is unreachable: nothing to gain from retrying document by document
                logger.warning("a batch of %d documents was refused; writing them one by one", len(batch))
                for item in batch:
                    try:
                        await self._write(run, [item])
                    except DBAPIError as error:
                        self._fail(run, _failure(item.document, f"the database refused it: {error.orig}"))
        await self._save_progress(run, cut=(checkpoint,))

    async def _write(self, run: _Run, batch: list[PreparedDocument]) -> None:
        async with self._sessions() as session, session.begin():
            ids = await write_documents(
                session, run.source_id, run.model, batch, run.known, lexeme_stats=not run.bulk_load
            )
            unreadable = {
                ids[item.document.external_id]: item.document.access.unreadable_reason
                for item in batch
                if item.document.access.unreadable_reason is not None
            }
            readable = [
                ids[item.document.external_id] for item in batch if item.document.access.unreadable_reason is None
            ]
            await record_access_failures(session, run.source_id, unreadable, readable)
        for item in batch:
            external_id = item.document.external_id
            if external_id in run.known:
                run.summary.updated += 1
            else:
                run.summary.added += 1
            run.known[external_id] = KnownRow(
                ids[external_id], item.content_hash, item.document.etag, item.document.last_modified, run.model.id
            )
        run.written_chunks += sum(len(item.chunks) for item in batch)
        await self._maybe_enter_bulk_load(run)

    async def _reembed(self, run: _Run) -> None:
        """Give documents embedded by another model vectors from the current one, batch by batch."""
        step = self.config.batch_documents
        for start in range(0, len(run.reembed), step):
            document_ids = run.reembed[start : start + step]
            async with self._sessions() as session, session.begin():
                chunks = await stale_chunks(session, document_ids)
                vectors = await self._embed(
                    run, session, [digest for _, digest, _ in chunks], [search for _, _, search in chunks]
                )
                await replace_embeddings(
                    session, run.model, document_ids, {chunk_id: vectors[digest] for chunk_id, digest, _ in chunks}
                )
            run.summary.reembedded += len(document_ids)
            run.summary.unchanged += len(document_ids)
            await self._save_progress(run)

    async def _delete_missing(self, run: _Run) -> None:
        await self._delete(run, [row.id for external_id, row in run.known.items() if external_id not in run.seen])

    async def _delete_refused(self, run: _Run) -> None:
        """Remove earlier copies of documents the source now refuses to read, complete listing or not."""
        if run.refused:
            refused = set(run.refused)
            await self._delete(run, run.refused)
            run.known = {key: row for key, row in run.known.items() if row.id not in refused}
            run.refused = []

    async def _delete(self, run: _Run, gone: list[int]) -> None:
        step = self.config.batch_documents * 4
        for start in range(0, len(gone), step):
            async with self._sessions() as session, session.begin():
                await delete_documents(session, run.source_id, gone[start : start + step])
            run.summary.deleted += len(gone[start : start + step])
        await self._save_progress(run)

    async def _save_progress(self, run: _Run, *, cut: tuple[dict[str, Any] | None] | None = None, **extra: Any) -> None:
        """Store the run's counts and new failures, so `/kb status` is current even if the process dies.

        ``cut`` holds the source's checkpoint when the batch just written was cut (a writer task stores that one);
        without it the current checkpoint is stored, but only if nothing is pending and no batch is being written.
        """
        failures, run.unsaved_failures = run.unsaved_failures, []
        counts = run.summary.model_dump(include={"added", "updated", "unchanged", "deleted", "failed", "reembedded"})
        async with self._sessions() as session, session.begin():
            await session.execute(update(SyncRun).where(SyncRun.id == run.summary.run_id).values(**counts, **extra))
            # Only once every document yielded before the checkpoint is written may it be stored.
            if cut is not None:
                ready, checkpoint = True, cut[0]
            else:
                ready = not run.pending and run.writing is None
                checkpoint = run.source.checkpoint if run.source is not None else None
            if ready and checkpoint != run.stored_checkpoint:
                await save_checkpoint(session, run.source_id, checkpoint)
                run.stored_checkpoint = checkpoint
            if failures:
                session.add_all(
                    SyncRunFailure(
                        run_id=run.summary.run_id,
                        **failure.model_dump(exclude={"access"}),
                        is_public=None if failure.access is None else failure.access.public,
                        principals=None if failure.access is None else failure.access.principals(),
                    )
                    for failure in failures
                )

    async def _finish(self, run: _Run, started: float) -> None:
        run.summary.seconds = time.perf_counter() - started
        await self._save_progress(run, status=run.summary.status, error=run.summary.error, finished_at=func.now())
        logger.info(
            "sync of %s %s: %d added, %d updated, %d unchanged, %d deleted, %d failed in %.1f s",
            run.summary.source,
            run.summary.status,
            run.summary.added,
            run.summary.updated,
            run.summary.unchanged,
            run.summary.deleted,
            run.summary.failed,
            run.summary.seconds,
        )


@asynccontextmanager
async def holding_source_lock(sessions: async_sessionmaker[AsyncSession], source_name: str) -> AsyncIterator[None]:
    """Hold the source's advisory lock for the duration of the block, across processes.

    Content sync and permission sync of one source take the same lock, so an older access list never overwrites
    a newer one. Autocommit and a session-level lock: the lock's connection holds no snapshot while the sync runs,
    so a concurrent index build (see knowledge.vector_indexes) never waits for it.
    """
    async with sessions() as lock_session:
        connection = await lock_session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        async with holding_advisory_lock(
            connection,
            _TRY_SOURCE_LOCK_SQL,
            _UNLOCK_SOURCE_LOCK_SQL,
            {"name": source_name},
            purpose=f"syncing source {source_name} (another sync of it is running)",
        ):
            yield


async def sync_source(
    sessions: async_sessionmaker[AsyncSession],
    embedder: Embedder,
    source: Source,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    config: SyncConfig | None = None,
) -> SyncSummary:
    """Sync one source into the index (see ``SyncEngine.sync``)."""
    return await SyncEngine(sessions, embedder, config).sync(source, full=full, progress=progress)


def _failure(document: SourceDocument, reason: str) -> DocumentFailure:
    return DocumentFailure(
        external_id=document.external_id,
        reason=reason,
        title=document.title,
        url=document.url,
        access=document.access,
    )


def _without_nul(document: SourceDocument) -> SourceDocument:
    if "\x00" not in document.title and "\x00" not in document.content:
        return document
    return document.model_copy(
        update={"title": document.title.replace("\x00", ""), "content": document.content.replace("\x00", "")}
    )


def known_documents_view(known: Mapping[str, KnownRow]) -> dict[str, KnownDocument]:
    """The index's memory of a source in the form ``Source.fetch`` takes (also useful to drive a source by hand)."""
    return {
        external_id: KnownDocument(
            external_id=external_id, content_hash=row.content_hash, etag=row.etag, last_modified=row.last_modified
        )
        for external_id, row in known.items()
    }
