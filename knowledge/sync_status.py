"""Read-side of sync history and index size, for `/kb status` and `switchboard sync` summaries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge.connector_state import permission_states, unreadable_counts
from knowledge.documents import AccessList
from knowledge.index_tables import IndexedDocument, KnowledgeSource, SyncRun, SyncRunFailure
from knowledge.sync_models import DocumentFailure, KnowledgeStatus, SourceStatus, SyncRunRecord


async def recent_sync_runs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    source: str | None = None,
    limit: int = 10,
    failures_per_run: int = 5,
) -> list[SyncRunRecord]:
    """The latest runs, newest first (of one source, or of all), each with its first recorded failures."""
    async with sessions() as session:
        statement = (
            select(SyncRun, KnowledgeSource.name)
            .join(KnowledgeSource, KnowledgeSource.id == SyncRun.source_id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(limit)
        )
        if source is not None:
            statement = statement.where(KnowledgeSource.name == source)
        runs = (await session.execute(statement)).all()
        return [await _record(session, run, name, failures_per_run) for run, name in runs]


async def knowledge_status(sessions: async_sessionmaker[AsyncSession], *, failures_per_run: int = 5) -> KnowledgeStatus:
    """Per source: documents and chunks in the index, and its latest sync run with recent failures."""
    async with sessions() as session:
        sizes = (
            await session.execute(
                select(
                    KnowledgeSource.id,
                    KnowledgeSource.name,
                    func.count(IndexedDocument.id),
                    func.coalesce(func.sum(IndexedDocument.chunk_count), 0),
                )
                .outerjoin(IndexedDocument, IndexedDocument.source_id == KnowledgeSource.id)
                .group_by(KnowledgeSource.id, KnowledgeSource.name)
                .order_by(KnowledgeSource.name)
            )
        ).all()
        latest = (
            select(SyncRun)
            .ext(distinct_on(SyncRun.source_id))
            .order_by(SyncRun.source_id, SyncRun.started_at.desc(), SyncRun.id.desc())
        )
        last_runs = {run.source_id: run for run in (await session.execute(latest)).scalars()}
        unreadable = await unreadable_counts(session)
        permissions = await permission_states(session)
        statuses = []
        for source_id, name, documents, chunks in sizes:
            run = last_runs.get(source_id)
            hidden, reason = unreadable.get(source_id, (0, None))
            state = permissions.get(source_id)
            statuses.append(
                SourceStatus(
                    source=name,
                    documents=documents,
                    chunks=int(chunks),
                    last_run=await _record(session, run, name, failures_per_run) if run else None,
                    unreadable_permissions=hidden,
                    unreadable_reason=reason,
                    permissions_synced_at=state.permissions_synced_at if state else None,
                    permissions_error=state.permissions_error if state else None,
                )
            )
        return KnowledgeStatus(sources=statuses)


async def _record(session: AsyncSession, run: SyncRun, source: str, failures_limit: int) -> SyncRunRecord:
    """The run with its first failures, each with the document's access list as known at the failure, else that of
    its indexed version, else None, so a title is shown only to those who may read the document."""
    failures = (
        await session.execute(
            select(SyncRunFailure, IndexedDocument.is_public, IndexedDocument.principals)
            .outerjoin(
                IndexedDocument,
                (IndexedDocument.source_id == run.source_id)
                & (IndexedDocument.external_id == SyncRunFailure.external_id),
            )
            .where(SyncRunFailure.run_id == run.id)
            .order_by(SyncRunFailure.id)
            .limit(failures_limit)
        )
    ).all()
    return SyncRunRecord(
        run_id=run.id,
        source=source,
        status=run.status,
        full=run.full,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
        added=run.added,
        updated=run.updated,
        unchanged=run.unchanged,
        deleted=run.deleted,
        failed=run.failed,
        reembedded=run.reembedded,
        failures=[
            DocumentFailure(
                external_id=item.external_id,
                reason=item.reason,
                title=item.title,
                url=item.url,
                access=_failure_access(item, indexed_public, indexed_principals),
            )
            for item, indexed_public, indexed_principals in failures
        ],
    )


def _failure_access(
    failure: SyncRunFailure, indexed_public: bool | None, indexed_principals: list[str] | None
) -> AccessList | None:
    if failure.is_public is not None:
        return AccessList.from_stored(failure.is_public, failure.principals or [])
    if indexed_public is not None:
        return AccessList.from_stored(indexed_public, indexed_principals or [])
    return None
