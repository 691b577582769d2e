"""The embedding models the index knows: each registered once by name with its dimension.

Sync registers the model it embeds with; search looks it up to know which vectors (and which HNSW index) a query
compares against. A model whose dimension changed under the same name is refused, because its stored vectors
could no longer be compared.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.embeddings import Embedder
from knowledge.errors import EmbeddingError, EmbeddingModelMismatch
from knowledge.index_tables import MAX_INDEXED_DIMENSIONS, EmbeddingModel


@dataclass(frozen=True)
class RegisteredModel:
    """An embedding model as the index stores it: its row id, name and dimension."""

    id: int
    name: str
    dimensions: int


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
