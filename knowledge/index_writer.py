"""Bulk writes of documents and chunks to the knowledge index, with their BM25 postings kept in step.

Every function here runs inside the caller's transaction, so a document's old chunks, new chunks and statistics
change together or not at all. Statements work on whole batches (arrays of ids), never one row per round trip,
because sync speed is dominated by round trips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.bm25_postings import add_postings, remove_postings
from knowledge.chunk_embeddings import vector_binary
from knowledge.chunking import Chunk, ChunkingConfig
from knowledge.documents import SourceDocument
from knowledge.embedding_models import RegisteredModel
from knowledge.index_tables import CorpusStats, IndexedDocument, KnowledgeSource


@dataclass(frozen=True)
class KnownRow:
    """What sync needs to know about an indexed document, loaded for a whole source in one query."""

    id: int
    content_hash: str
    etag: str | None
    last_modified: str | None
    embedding_model_id: int | None


@dataclass
class PreparedDocument:
    """A changed document, chunked, embedded and signed, ready to be written in one transaction."""

    document: SourceDocument
    content_hash: str
    chunks: list[Chunk]
    text_hashes: list[str]
    embeddings: list[Any]
    # Each chunk's MinHash signature (knowledge.near_duplicates), computed beside the embeddings.
    signatures: list[list[int] | None] = field(default_factory=list)


def content_hash(document: SourceDocument, chunking: ChunkingConfig) -> str:
    """Hash of everything that shapes a document's chunks: equal hash means nothing to re-chunk or re-embed."""
    payload = json.dumps(
        [
            chunking.fingerprint(),
            document.title,
            document.url,
            document.content,
            document.access.public,
            document.access.principals(),
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def text_hash(search_text: str) -> str:
    return hashlib.sha256(search_text.encode()).hexdigest()


async def ensure_source(session: AsyncSession, name: str) -> int:
    """The id of source ``name``, created (with its empty corpus statistics) on first use."""
    await session.execute(insert(KnowledgeSource).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
    source_id = (await session.execute(select(KnowledgeSource.id).where(KnowledgeSource.name == name))).scalar_one()
    await session.execute(
        insert(CorpusStats)
        .values(source_id=source_id, chunk_count=0, total_length=0)
        .on_conflict_do_nothing(index_elements=["source_id"])
    )
    return source_id


async def load_known(session: AsyncSession, source_id: int) -> dict[str, KnownRow]:
    """Every indexed document of a source, in one query (a re-sync compares hashes in memory)."""
    rows = await session.execute(
        select(
            IndexedDocument.external_id,
            IndexedDocument.id,
            IndexedDocument.content_hash,
            IndexedDocument.etag,
            IndexedDocument.last_modified,
            IndexedDocument.embedding_model_id,
        ).where(IndexedDocument.source_id == source_id)
    )
    return {row[0]: KnownRow(row[1], row[2], row[3], row[4], row[5]) for row in rows}


async def remove_chunks(session: AsyncSession, source_id: int, document_ids: Sequence[int]) -> None:
    """Drop the chunks of these documents and take them out of the BM25 statistics."""
    if not document_ids:
        return
    ids = list(document_ids)
    await remove_postings(session, source_id, ids)
    await session.execute(text("DELETE FROM kb_chunks WHERE document_id = ANY(:ids)"), {"ids": ids})


async def delete_documents(session: AsyncSession, source_id: int, document_ids: Sequence[int]) -> None:
    """Remove documents (gone upstream) with their chunks."""
    if not document_ids:
        return
    await remove_chunks(session, source_id, document_ids)
    await session.execute(text("DELETE FROM kb_documents WHERE id = ANY(:ids)"), {"ids": list(document_ids)})


async def write_documents(
    session: AsyncSession,
    source_id: int,
    model: RegisteredModel,
    prepared: Sequence[PreparedDocument],
    known: dict[str, KnownRow],
    *,
    lexeme_stats: bool = True,
) -> dict[str, int]:
    """Replace the chunks of changed documents (and insert new ones); returns their ids by external id.

    ``lexeme_stats=False`` (bulk load) skips the per-lexeme document frequencies, recounted when the load ends.
    """
    if not prepared:
        return {}
    previous = [known[item.document.external_id].id for item in prepared if item.document.external_id in known]
    await remove_chunks(session, source_id, previous)
    document_rows = [
        {
            "source_id": source_id,
            "external_id": item.document.external_id,
            "title": item.document.title,
            "url": item.document.url,
            "content_hash": item.content_hash,
            "etag": item.document.etag,
            "last_modified": item.document.last_modified,
            "source_updated_at": item.document.updated_at,
            "is_public": item.document.access.public,
            "principals": item.document.access.principals(),
            "embedding_model_id": model.id,
            "chunk_count": len(item.chunks),
        }
        for item in prepared
    ]
    statement = insert(IndexedDocument)
    upsert = statement.on_conflict_do_update(
        constraint="kb_documents_source_external_id_key",
        set_={
            column: statement.excluded[column]
            for column in (
                "title",
                "url",
                "content_hash",
                "etag",
                "last_modified",
                "source_updated_at",
                "is_public",
                "principals",
                "embedding_model_id",
                "chunk_count",
            )
        }
        | {"updated_at": text("now()")},
    ).returning(IndexedDocument.external_id, IndexedDocument.id)
    ids = {row[0]: row[1] for row in await session.execute(upsert, document_rows)}
    chunk_rows = [
        (
            ids[item.document.external_id],
            source_id,
            chunk.ordinal,
            chunk.text,
            chunk.search_text,
            chunk.heading_path,
            chunk.anchor,
            chunk.url(item.document.url),
            chunk_hash,
            model.id,
            vector_binary(vector),
            item.document.access.public,
            item.document.access.principals(),
            signature,
        )
        for item in prepared
        for chunk, chunk_hash, vector, signature in zip(
            item.chunks, item.text_hashes, item.embeddings, item.signatures, strict=True
        )
    ]
    if chunk_rows:
        await _copy_chunks(session, chunk_rows)
        await add_postings(session, source_id, list(ids.values()), lexeme_stats=lexeme_stats)
    return ids


_COPY_CHUNKS = (
    "COPY kb_chunks (document_id, source_id, ordinal, text, search_text, heading_path, anchor, url, text_hash, "
    "model_id, embedding, is_public, principals, minhash) FROM STDIN (FORMAT BINARY)"
)
# The binary types of those columns, in order. The vector goes as ``bytea``: a binary COPY field carries no type,
# PostgreSQL hands its bytes to the column's own reader (pgvector's ``vector_recv``), so no type lookup is needed.
_COPY_CHUNK_TYPES = [
    *("int8", "int4", "int4", "text", "text", "text[]", "text", "text", "text"),
    *("int4", "bytea", "bool", "text[]", "int4[]"),
]


async def _copy_chunks(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Insert chunk rows with a binary COPY, in the session's transaction (a third of a multi-row INSERT's time;
    binary, the vectors cost no float formatting)."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)  # noqa: S101 - the engine is always psycopg's (database.py)
    async with driver.cursor() as cursor, cursor.copy(_COPY_CHUNKS) as copy:
        copy.set_types(_COPY_CHUNK_TYPES)
        for row in rows:
            await copy.write_row(row)
