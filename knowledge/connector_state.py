"""Reads and writes of connector state: checkpoints, external groups, access updates and unreadable permissions.

Every function runs inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.connector_tables import DocumentAccessFailure, ExternalGroupMember, SourceSyncState
from knowledge.documents import AccessList
from knowledge.index_tables import IndexedDocument


async def load_checkpoint(session: AsyncSession, source_id: int) -> dict[str, Any] | None:
    return (
        await session.execute(select(SourceSyncState.checkpoint).where(SourceSyncState.source_id == source_id))
    ).scalar_one_or_none()


async def save_checkpoint(session: AsyncSession, source_id: int, checkpoint: dict[str, Any] | None) -> None:
    statement = insert(SourceSyncState).values(
        source_id=source_id, checkpoint=checkpoint, checkpoint_updated_at=func.now()
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["source_id"],
            set_={"checkpoint": statement.excluded.checkpoint, "checkpoint_updated_at": func.now()},
        )
    )


async def record_permission_sync(session: AsyncSession, source_id: int, error: str | None) -> None:
    statement = insert(SourceSyncState).values(
        source_id=source_id, permissions_synced_at=func.now(), permissions_error=error
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["source_id"],
            set_={"permissions_synced_at": func.now(), "permissions_error": statement.excluded.permissions_error},
        )
    )


async def record_access_failures(
    session: AsyncSession, source_id: int, failures: Mapping[int, str], readable: Sequence[int]
) -> None:
    """Mark documents whose permissions could not be read (``failures``: id -> reason); clear the ``readable``."""
    if readable:
        await session.execute(delete(DocumentAccessFailure).where(DocumentAccessFailure.document_id.in_(readable)))
    if failures:
        statement = insert(DocumentAccessFailure).values(
            [{"document_id": key, "source_id": source_id, "reason": reason} for key, reason in failures.items()]
        )
        # Keep ``since``: it says how long the document has been hidden.
        await session.execute(
            statement.on_conflict_do_update(index_elements=["document_id"], set_={"reason": statement.excluded.reason})
        )


async def replace_group_members(session: AsyncSession, source_id: int, members: Iterable[tuple[str, str]]) -> None:
    """Make (group principal, member) pairs the source's complete membership, in one transaction."""
    await session.execute(delete(ExternalGroupMember).where(ExternalGroupMember.source_id == source_id))
    rows = [{"source_id": source_id, "group_principal": group, "member": member} for group, member in set(members)]
    if rows:
        await session.execute(insert(ExternalGroupMember).values(rows).on_conflict_do_nothing())


async def groups_of_members(session: AsyncSession, members: Iterable[str]) -> dict[str, frozenset[str]]:
    """For each identity principal (Slack id, ``email:...``), the external groups it belongs to, in one query."""
    wanted = sorted(set(members))
    if not wanted:
        return {}
    rows = await session.execute(
        select(ExternalGroupMember.member, ExternalGroupMember.group_principal).where(
            ExternalGroupMember.member.in_(wanted)
        )
    )
    found: dict[str, set[str]] = {}
    for member, group in rows:
        found.setdefault(member, set()).add(group)
    return {member: frozenset(groups) for member, groups in found.items()}


@dataclass(frozen=True)
class StoredAccess:
    document_id: int
    public: bool
    principals: tuple[str, ...]


async def stored_access(session: AsyncSession, source_id: int) -> dict[str, StoredAccess]:
    """Every indexed document's access of one source, by external id (permission sync compares in memory)."""
    rows = await session.execute(
        select(
            IndexedDocument.external_id, IndexedDocument.id, IndexedDocument.is_public, IndexedDocument.principals
        ).where(IndexedDocument.source_id == source_id)
    )
    return {row[0]: StoredAccess(row[1], row[2], tuple(sorted(row[3]))) for row in rows}


# One statement for a whole batch of documents: the new access lists arrive as one JSON array of records, and each
# table is updated by a join with it (three per-document statements made a permission sync of a large source cost
# three round trips and three plans per document). Postings only carry ``is_public``, so only chunks whose
# visibility flips touch them.
_UPDATE_ACCESS = text(
    """
    WITH wanted AS (
        SELECT * FROM jsonb_to_recordset(CAST(:updates AS jsonb)) AS u(id bigint, public boolean, principals text[])
    ),
    documents AS (
        UPDATE kb_documents d SET is_public = w.public, principals = w.principals, updated_at = now()
        FROM wanted w WHERE d.id = w.id
    ),
    chunks AS (
        UPDATE kb_chunks c SET is_public = w.public, principals = w.principals
        FROM wanted w WHERE c.document_id = w.id
        RETURNING c.id, c.is_public
    )
    UPDATE kb_postings p SET is_public = chunks.is_public
    FROM chunks WHERE p.chunk_id = chunks.id AND p.is_public <> chunks.is_public
    """
)


async def update_access(session: AsyncSession, updates: Mapping[int, AccessList]) -> None:
    """Re-permission documents in place: their rows, chunks and postings, in one statement; text and vectors stay."""
    if not updates:
        return
    records = [
        {"id": document_id, "public": access.public, "principals": access.principals()}
        for document_id, access in updates.items()
    ]
    await session.execute(_UPDATE_ACCESS, {"updates": json.dumps(records)})


async def unreadable_counts(session: AsyncSession) -> dict[int, tuple[int, str | None]]:
    """Per source id: how many documents are hidden for unreadable permissions, and one of the reasons."""
    rows = await session.execute(
        select(
            DocumentAccessFailure.source_id,
            func.count(),
            func.max(DocumentAccessFailure.reason),
        ).group_by(DocumentAccessFailure.source_id)
    )
    return {row[0]: (row[1], row[2]) for row in rows}


async def permission_states(session: AsyncSession) -> dict[int, SourceSyncState]:
    rows = await session.execute(select(SourceSyncState))
    return {state.source_id: state for state in rows.scalars()}
