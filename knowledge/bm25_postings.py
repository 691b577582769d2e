"""BM25 postings and statistics, kept in step with the chunks inside the caller's transaction.

Search scores BM25 in SQL from per-chunk postings (term frequency, chunk length, a precomputed impact) and
per-source document frequencies and corpus totals. These two statements keep those tables consistent when chunks
are added or removed, a whole batch of documents per statement.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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

_ADD_POSTINGS = """
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
    ),{per_lexeme}
    UPDATE kb_corpus_stats SET
        chunk_count = chunk_count + (SELECT count(*) FROM kb_chunks WHERE document_id = ANY(:document_ids)),
        total_length = total_length + coalesce((SELECT sum(tf) FROM added), 0)
    WHERE source_id = :source_id
    """
_PER_LEXEME = """
    per_lexeme AS (
        INSERT INTO kb_lexeme_stats (lexeme, source_id, df)
        SELECT lexeme, :source_id, count(*) FROM added GROUP BY lexeme ORDER BY lexeme
        ON CONFLICT (lexeme, source_id) DO UPDATE SET df = kb_lexeme_stats.df + EXCLUDED.df
    )"""
_ADD_POSTINGS_WITH_STATS = text(_ADD_POSTINGS.format(per_lexeme=_PER_LEXEME))
# A bulk load (knowledge.bulk_load) recounts document frequencies once at its end instead.
_ADD_POSTINGS_WITHOUT_STATS = text(_ADD_POSTINGS.format(per_lexeme="").replace("),\n    UPDATE", ")\n    UPDATE"))


async def remove_postings(session: AsyncSession, source_id: int, document_ids: Sequence[int]) -> None:
    """Delete the postings of these documents' chunks and subtract them from the source's statistics.

    Runs before the chunks themselves are deleted: it counts them to adjust the corpus totals.
    """
    await session.execute(_REMOVE_POSTINGS, {"document_ids": list(document_ids), "source_id": source_id})


async def add_postings(
    session: AsyncSession, source_id: int, document_ids: Sequence[int], *, lexeme_stats: bool = True
) -> None:
    """Write the postings of these documents' (just inserted) chunks and add them to the source's statistics.

    ``lexeme_stats=False`` leaves the per-lexeme document frequencies alone (a bulk load recounts them at its end).
    """
    statement = _ADD_POSTINGS_WITH_STATS if lexeme_stats else _ADD_POSTINGS_WITHOUT_STATS
    await session.execute(statement, {"document_ids": list(document_ids), "source_id": source_id})
