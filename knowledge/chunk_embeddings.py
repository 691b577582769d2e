"""The vectors stored on chunks: reuse by text hash, replacement after a model change, pgvector's text form.

The reader (search) binds vectors as pgvector text (``vector_literal``); the writer copies them in pgvector's binary
form (``vector_binary``). Both live here, beside the other code that handles stored vectors.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.embedding_models import RegisteredModel
from knowledge.index_tables import IndexedChunk


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


def vector_binary(vector: Any) -> bytes:
    """pgvector's binary form of a vector (what its ``vector_recv`` reads), for a binary ``COPY``.

    Big-endian: the dimension and a reserved zero as 16-bit integers, then each value as a 32-bit float. Twenty
    times cheaper to produce than the text form, which formats every float in Python.
    """
    values = np.asarray(vector, dtype=">f4")
    return _VECTOR_HEADER.pack(len(values), 0) + values.tobytes()


_VECTOR_HEADER = struct.Struct(">HH")
