"""Indexed documents as something else cites them (a curated answer): found by URL or source id, with the access
list and content hash that decide whether the citation may still be shown and whether it is still what was cited."""

from __future__ import annotations

import math
from collections.abc import Iterable

from pydantic import BaseModel
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge.documents import AccessList
from knowledge.index_tables import TEXT_SEARCH_CONFIG, IndexedDocument, KnowledgeSource


class CitedDocument(BaseModel):
    """One indexed document: enough to cite it, check who may read it and tell whether it changed."""

    document_id: int
    source: str
    external_id: str
    title: str
    url: str
    content_hash: str
    access: AccessList


async def find_cited_documents(
    sessions: async_sessionmaker[AsyncSession], references: Iterable[str]
) -> dict[str, CitedDocument]:
    """Each reference (a document URL, with or without ``#anchor``, or its id within its source, e.g. a folder's
    relative path) mapped to its indexed document; references not in the index are left out."""
    wanted = {ref: ref.strip().split("#", 1)[0] for ref in references if ref.strip()}
    if not wanted:
        return {}
    keys = sorted(set(wanted.values()))
    async with sessions() as session:
        rows = (
            await session.execute(
                select(IndexedDocument, KnowledgeSource.name)
                .join(KnowledgeSource, KnowledgeSource.id == IndexedDocument.source_id)
                .where(or_(IndexedDocument.url.in_(keys), IndexedDocument.external_id.in_(keys)))
                .order_by(IndexedDocument.id)
            )
        ).all()
    by_key: dict[str, CitedDocument] = {}
    for row, source in rows:
        document = _cited(row, source)
        by_key.setdefault(row.url, document)
        by_key.setdefault(row.external_id, document)
    return {ref: by_key[key] for ref, key in wanted.items() if key in by_key}


async def cited_documents_by_id(
    sessions: async_sessionmaker[AsyncSession], document_ids: Iterable[int]
) -> dict[int, CitedDocument]:
    """The documents still indexed among ``document_ids`` (a deleted one is simply absent)."""
    ids = sorted(set(document_ids))
    if not ids:
        return {}
    async with sessions() as session:
        rows = (
            await session.execute(
                select(IndexedDocument, KnowledgeSource.name)
                .join(KnowledgeSource, KnowledgeSource.id == IndexedDocument.source_id)
                .where(IndexedDocument.id.in_(ids))
            )
        ).all()
    return {row.id: _cited(row, source) for row, source in rows}


def _cited(row: IndexedDocument, source: str) -> CitedDocument:
    return CitedDocument(
        document_id=row.id,
        source=source,
        external_id=row.external_id,
        title=row.title,
        url=row.url,
        content_hash=row.content_hash,
        access=AccessList.from_stored(row.is_public, row.principals),
    )


async def text_lexemes(sessions: async_sessionmaker[AsyncSession], texts: list[str]) -> list[list[str]]:
    """Each text's PostgreSQL lexemes, stemmed exactly as the knowledge index stems passages."""
    if not texts:
        return []
    async with sessions() as session:
        rows = await session.execute(
            text(
                f"SELECT ord, coalesce(tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, t)), "  # noqa: S608
                "'{}'::text[]) AS lexemes FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS q(t, ord)"
            ),
            {"texts": texts},
        )
        found = {int(row.ord): list(row.lexemes) for row in rows}
    return [found.get(index + 1, []) for index in range(len(texts))]


async def lexeme_weights(sessions: async_sessionmaker[AsyncSession], lexemes: Iterable[str]) -> dict[str, float]:
    """BM25's inverse document frequency of each lexeme over the knowledge index (the same statistics and formula
    hybrid retrieval uses), so a word every passage contains weighs little and a rare one much."""
    wanted = sorted(set(lexemes))
    if not wanted:
        return {}
    async with sessions() as session:
        corpus = await session.scalar(text("SELECT greatest(coalesce(sum(chunk_count), 0), 1) FROM kb_corpus_stats"))
        rows = await session.execute(
            text("SELECT lexeme, sum(df) AS df FROM kb_lexeme_stats WHERE lexeme = ANY(:lexemes) GROUP BY lexeme"),
            {"lexemes": wanted},
        )
        frequencies = {row.lexeme: float(row.df) for row in rows}
    total = float(corpus or 1)
    return {
        lexeme: math.log(1 + (total - frequencies.get(lexeme, 0.0) + 0.5) / (frequencies.get(lexeme, 0.0) + 0.5))
        for lexeme in wanted
    }
