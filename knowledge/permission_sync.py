"""Permission sync: re-read a source's groups and access lists on their own cadence, without fetching content.

A page whose restrictions change, or someone who leaves a private channel, is applied within one
``permission_sync_minutes``. It holds the same per-source lock as content sync, so an access list read earlier can
never overwrite one read later. Group members are replaced as a whole; a group that could not be listed is stored
without members (nobody reads through it) until it can be. A source that refuses its credentials hides all its
documents until a permission sync succeeds again (fail closed): its access lists can no longer be trusted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge.connector_state import (
    groups_of_members,
    record_access_failures,
    record_permission_sync,
    replace_group_members,
    stored_access,
    update_access,
)
from knowledge.documents import AccessList, Reader
from knowledge.errors import SourceAuthError
from knowledge.index_writer import ensure_source
from knowledge.sources.permissioned import PermissionedSource
from knowledge.sync import holding_source_lock

logger = logging.getLogger(__name__)

# Documents checked per transaction; each batch is re-permissioned with one statement (``update_access``).
_BATCH = 500


class PermissionSyncSummary(BaseModel):
    source: str
    status: str
    groups: int = 0
    checked: int = 0
    changed: int = 0
    unreadable: int = 0
    error: str | None = None
    seconds: float = 0.0


async def sync_permissions(
    sessions: async_sessionmaker[AsyncSession], source: PermissionedSource
) -> PermissionSyncSummary:
    """Apply the source's current groups and access lists to the index; documents' text is never touched."""
    started = time.perf_counter()
    summary = PermissionSyncSummary(source=source.name, status="running")
    try:
        async with holding_source_lock(sessions, source.name):
            try:
                await _sync_locked(sessions, source, summary)
            except SourceAuthError as error:
                # The source refused its credentials: who may read is unknown, so nobody may until it answers.
                summary.unreadable = await _hide_source(sessions, source.name, str(error))
                raise
        summary.status = "succeeded" if summary.error is None else "partial"
    except Exception as error:
        logger.exception("permission sync of source %s failed", source.name)
        summary.status = "failed"
        summary.error = f"{type(error).__name__}: {error}"
        await _record(sessions, source.name, summary.error)
    finally:
        await source.aclose()
    summary.seconds = time.perf_counter() - started
    logger.info(
        "permission sync of %s %s: %d groups, %d documents checked, %d re-permissioned, %d unreadable in %.1f s",
        source.name,
        summary.status,
        summary.groups,
        summary.checked,
        summary.changed,
        summary.unreadable,
        summary.seconds,
    )
    return summary


async def _sync_locked(
    sessions: async_sessionmaker[AsyncSession], source: PermissionedSource, summary: PermissionSyncSummary
) -> None:
    async with sessions() as session, session.begin():
        source_id = await ensure_source(session, source.name)
        stored = await stored_access(session, source_id)
    members: list[tuple[str, str]] = []
    async for group in source.external_groups():
        summary.groups += 1
        members.extend((group.principal, member) for member in group.members)
    async with sessions() as session, session.begin():
        await replace_group_members(session, source_id, members)
    summary.error = source.groups_error

    changed: dict[int, AccessList] = {}
    unreadable: dict[int, str] = {}
    readable: list[int] = []
    async for update in source.current_access(sorted(stored)):
        row = stored.get(update.external_id)
        if row is None:
            continue
        summary.checked += 1
        access = update.access
        if access.unreadable_reason is not None:
            unreadable[row.document_id] = access.unreadable_reason
        else:
            readable.append(row.document_id)
        if (access.public, tuple(access.principals())) != (row.public, row.principals):
            changed[row.document_id] = access
        # Every checked document is in exactly one of these two (``changed`` overlaps them).
        if len(unreadable) + len(readable) >= _BATCH:
            await _apply(sessions, source_id, changed, unreadable, readable, summary)
            changed, unreadable, readable = {}, {}, []
    await _apply(sessions, source_id, changed, unreadable, readable, summary)
    async with sessions() as session, session.begin():
        await record_permission_sync(session, source_id, summary.error)


async def _apply(
    sessions: async_sessionmaker[AsyncSession],
    source_id: int,
    changed: dict[int, AccessList],
    unreadable: dict[int, str],
    readable: list[int],
    summary: PermissionSyncSummary,
) -> None:
    async with sessions() as session, session.begin():
        await update_access(session, changed)
        await record_access_failures(session, source_id, unreadable, readable)
    summary.changed += len(changed)
    summary.unreadable += len(unreadable)


async def _hide_source(sessions: async_sessionmaker[AsyncSession], source_name: str, reason: str) -> int:
    """Record every document of the source as unreadable (fail closed); returns how many."""
    async with sessions() as session, session.begin():
        source_id = await ensure_source(session, source_name)
        stored = await stored_access(session, source_id)
        hidden = AccessList.unreadable(reason)
        await update_access(session, {row.document_id: hidden for row in stored.values()})
        await record_access_failures(session, source_id, {row.document_id: reason for row in stored.values()}, [])
    return len(stored)


async def _record(sessions: async_sessionmaker[AsyncSession], source_name: str, error: str) -> None:
    try:
        async with sessions() as session, session.begin():
            await record_permission_sync(session, await ensure_source(session, source_name), error)
    except Exception:
        logger.exception("could not record the failed permission sync of %s", source_name)


async def with_external_groups(sessions: async_sessionmaker[AsyncSession], readers: Iterable[Reader]) -> list[Reader]:
    """The readers with the groups synced from sources (GitHub teams, Confluence groups, channels) they are in."""
    readers = list(readers)
    async with sessions() as session:
        groups = await groups_of_members(
            session, [principal for reader in readers for principal in reader.identity_principals()]
        )
    return [
        reader.model_copy(
            update={
                "external_groups": reader.external_groups
                | frozenset().union(*(groups.get(p, frozenset()) for p in reader.identity_principals()))
            }
        )
        for reader in readers
    ]
