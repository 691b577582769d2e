"""Bulk writes to the knowledge index, keeping chunks, postings and BM25 statistics consistent.

Every function here runs inside the caller's transaction, so a document's old chunks, new chunks and statistics
change together or not at all. Statements work on whole batches (arrays of ids), never one row per round trip,
because sync speed is dominated by round trips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.chunking import Chunk, ChunkingConfig
from knowledge.documents import SourceDocument
from knowledge.embeddings import Embedder
from knowledge.errors import EmbeddingError, EmbeddingModelMismatch
from knowledge.index_tables import (
    MAX_INDEXED_DIMENSIONS,
    CorpusStats,
    EmbeddingModel,
    IndexedChunk,
    IndexedDocument,
    KnowledgeSource,
)
from knowledge.near_duplicates import passage_signature


@dataclass(frozen=True)
class RegisteredModel:
    id: int
    name: str
    dimensions: int


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
    """A changed document, chunked and embedded, ready to be written in one transaction."""

    document: SourceDocument
    content_hash: str
    chunks: list[Chunk]
    text_hashes: list[str]
    embeddings: list[Any]


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


async def embedder_dimensions(embedder: Embedder) -> int:
    """The embedder's dimension; endpoints that learn it from their first answer are asked once."""
    try:
        return embedder.dimensions
    except EmbeddingError:
        await embedder.embed(["dimension probe"])
        return embedder.dimensions


async def ensure_embedding_model(session: AsyncSession, embedder: Embedder) -> RegisteredModel:
    """Register the embedder's model on first use; its HNSW index is built outside any transaction by
    ``knowledge.vector_indexes.ensure_model_index``."""
    dimensions = await embedder_dimensions(embedder)
    if dimensions > MAX_INDEXED_DIMENSIONS:
        raise EmbeddingError(
            f"embedding model {embedder.name!r} returns {dimensions} dimensions; the index takes at most "
            f"{MAX_INDEXED_DIMENSIONS}: choose a smaller model or ask the endpoint for fewer dimensions"
        )
    existing = (
        await session.execute(select(EmbeddingModel).where(EmbeddingModel.name == embedder.name))
    ).scalar_one_or_none()
    if existing is not None:
        if existing.dimensions != dimensions:
            raise EmbeddingModelMismatch(
                f"embedding model {embedder.name!r} is registered with {existing.dimensions} dimensions but now "
                f"returns {dimensions}; give the model a new name (EMBEDDINGS_MODEL) so its vectors are rebuilt"
            )
        return RegisteredModel(existing.id, existing.name, existing.dimensions)
    await session.execute(
        insert(EmbeddingModel)
        .values(name=embedder.name, dimensions=dimensions)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    model = (await session.execute(select(EmbeddingModel).where(EmbeddingModel.name == embedder.name))).scalar_one()
    return RegisteredModel(model.id, model.name, model.dimensions)


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


async def cached_embeddings(session: AsyncSession, model_id: int, hashes: Iterable[str]) -> dict[str, Any]:
    """Vectors already stored for these chunk texts under this model: an unchanged passage is never re-embedded."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    rows = await session.execute(
        select(IndexedChunk.text_hash, IndexedChunk.embedding)
        .where(IndexedChunk.model_id == model_id, IndexedChunk.text_hash.in_(wanted))
        .ext(distinct_on(IndexedChunk.text_hash))
    )
    return {row[0]: row[1] for row in rows if row[1] is not None}


_REMOVE_POSTINGS = text(
    """
    WITH gone AS (
        DELETE FROM kb_postings p USING kb_chunks c
        WHERE p.chunk_id = c.id AND c.document_id = ANY(:document_ids)
        RETURNING p.lexeme, p.tf
    ),
    per_lexeme AS (
        UPDATE kb_lexeme_stats s SET df = s.df - g.n
        FROM (SELECT lexeme, count(*) AS n FROM gone GROUP BY lexeme) g
        WHERE s.lexeme = g.lexeme AND s.source_id = :source_id
    )
    UPDATE kb_corpus_stats SET
        chunk_count = chunk_count - (SELECT count(*) FROM kb_chunks WHERE document_id = ANY(:document_ids)),
        total_length = total_length - coalesce((SELECT sum(tf) FROM gone), 0)
    WHERE source_id = :source_id
    """
)

_ADD_POSTINGS = text(
    """
    WITH terms AS (
        SELECT l.lexeme, c.id AS chunk_id, c.is_public, coalesce(array_length(l.positions, 1), 1) AS tf
        FROM kb_chunks c CROSS JOIN LATERAL unnest(c.tsv) AS l
        WHERE c.document_id = ANY(:document_ids)
    ),
    sized AS (
        SELECT lexeme, chunk_id, is_public, tf, sum(tf) OVER (PARTITION BY chunk_id) AS chunk_length FROM terms
    ),
    corpus AS (
        SELECT sum(total_length)::float8 / nullif(sum(chunk_count), 0) AS avgdl FROM kb_corpus_stats
    ),
    added AS (
        INSERT INTO kb_postings (lexeme, chunk_id, source_id, tf, chunk_length, is_public, impact)
        SELECT lexeme, chunk_id, :source_id, tf, chunk_length, is_public,
               tf * 1.9 / (tf + 0.9 * (0.6 + 0.4 * chunk_length / coalesce(corpus.avgdl, chunk_length)))
        FROM sized CROSS JOIN corpus
        RETURNING lexeme, tf
    ),
    per_lexeme AS (
        INSERT INTO kb_lexeme_stats (lexeme, source_id, df)
        SELECT lexeme, :source_id, count(*) FROM added GROUP BY lexeme ORDER BY lexeme
        ON CONFLICT (lexeme, source_id) DO UPDATE SET df = kb_lexeme_stats.df + EXCLUDED.df
    )
    UPDATE kb_corpus_stats SET
        chunk_count = chunk_count + (SELECT count(*) FROM kb_chunks WHERE document_id = ANY(:document_ids)),
        total_length = total_length + coalesce((SELECT sum(tf) FROM added), 0)
    WHERE source_id = :source_id
    """
)


async def remove_chunks(session: AsyncSession, source_id: int, document_ids: Sequence[int]) -> None:
    """Drop the chunks of these documents and take them out of the BM25 statistics."""
    if not document_ids:
        return
    ids = list(document_ids)
    await session.execute(_REMOVE_POSTINGS, {"document_ids": ids, "source_id": source_id})
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
) -> dict[str, int]:
    """Replace the chunks of changed documents (and insert new ones); returns their ids by external id."""
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
        {
            "document_id": ids[item.document.external_id],
            "source_id": source_id,
            "ordinal": chunk.ordinal,
            "text": chunk.text,
            "search_text": chunk.search_text,
            "heading_path": chunk.heading_path,
            "anchor": chunk.anchor,
            "url": chunk.url(item.document.url),
            "text_hash": chunk_hash,
            "model_id": model.id,
            "embedding": vector,
            "is_public": item.document.access.public,
            "principals": item.document.access.principals(),
            "minhash": passage_signature(chunk.text),
        }
        for item in prepared
        for chunk, chunk_hash, vector in zip(item.chunks, item.text_hashes, item.embeddings, strict=True)
    ]
    if chunk_rows:
        await session.execute(insert(IndexedChunk), chunk_rows)
        await session.execute(_ADD_POSTINGS, {"document_ids": list(ids.values()), "source_id": source_id})
    return ids


async def stale_chunks(session: AsyncSession, document_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """(chunk id, text hash, search text) of documents whose vectors came from another model."""
    rows = await session.execute(
        select(IndexedChunk.id, IndexedChunk.text_hash, IndexedChunk.search_text).where(
            IndexedChunk.document_id.in_(list(document_ids))
        )
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def replace_embeddings(
    session: AsyncSession, model: RegisteredModel, document_ids: Sequence[int], vectors: dict[int, Any]
) -> None:
    """Store new vectors for existing chunks (a model change) without touching their text or statistics."""
    if vectors:
        await session.execute(
            text("UPDATE kb_chunks SET embedding = CAST(:embedding AS vector), model_id = :model_id WHERE id = :id"),
            [
                {"id": chunk_id, "embedding": vector_literal(vector), "model_id": model.id}
                for chunk_id, vector in vectors.items()
            ],
        )
    await session.execute(
        text("UPDATE kb_documents SET embedding_model_id = :model_id WHERE id = ANY(:ids)"),
        {"model_id": model.id, "ids": list(document_ids)},
    )


def vector_literal(vector: Any) -> str:
    """pgvector's text form of a vector, for binding as a parameter cast to ``vector``."""
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"
