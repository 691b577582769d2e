"""What a connector test asks of the index: the passages of one source that these readers may retrieve, with the
groups synced from sources added to each reader, as the service adds them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import Embedder, HybridRetriever, Passage, Reader, ReaderScope, SearchQuery, with_external_groups


async def passages_for(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> list[Passage]:
    scope = ReaderScope(readers=tuple(await with_external_groups(sessions, readers)))
    return await HybridRetriever(sessions, embedder).search(
        SearchQuery(text=query, scope=scope, sources=(source_name,))
    )
