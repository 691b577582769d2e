"""Permission-aware hybrid retrieval: BM25 over PostgreSQL full-text lexemes plus pgvector HNSW, fused in one query.

Why this shape (measured on BEIR SciFact, see bench/RESULTS.md):

* PostgreSQL's ``ts_rank`` has no IDF and its AND queries miss most relevant passages on natural questions, so the
  full-text side is a real BM25 (Okapi, Anserini's k1=0.9, b=0.4) computed from ``kb_postings``: the query is
  turned into PostgreSQL lexemes (same stemming as the index) and every chunk containing *any* of them is scored.
* The static offline embedder alone is weaker than BM25, and equal-weight fusion drags BM25 down; fusion weights are
  therefore configurable and their defaults were chosen by measurement (``RetrievalConfig``).
* Every keyword candidate gets its exact cosine similarity, so fusion never scores a passage 0 for being absent
  from the other list; the HNSW scan then only has to find what the keywords missed and stays shallow and fast.
* pgvector's ``hnsw.ef_search`` (default 40) silently caps how many rows an HNSW scan returns, so it is raised to
  at least the candidate depth for each query, with iterative scans so the access filter cannot starve the result.
* A chunk is returned only if it is public or *every* reader in the scope shares a principal with its access list
  (``knowledge.access_filter``: a few array parameters, not a clause per reader); the filter is applied inside both
  candidate scans, so a restricted passage never even takes a rank.
* Near-duplicate passages (the same FAQ pasted into three pages) collapse into the best-ranked one, which names
  the others under ``also_in``. Fusion fetches a few more passages than asked for, and their stored MinHash
  signatures are compared in memory (``knowledge.near_duplicates``): no second query, and because only passages
  that passed the access filter take part, a copy a reader may not see is never named nor kept.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge.access_filter import access_filter
from knowledge.chunk_embeddings import vector_literal
from knowledge.documents import ReaderScope
from knowledge.embedding_models import RegisteredModel, embedder_dimensions
from knowledge.embeddings import Embedder
from knowledge.index_tables import TEXT_SEARCH_CONFIG, EmbeddingModel, indexed_embedding, query_embedding
from knowledge.near_duplicates import DEFAULT_NEAR_DUPLICATE_SIMILARITY, collapse_near_duplicates
from knowledge.passages import Passage, PassageCopy, SearchQuery

logger = logging.getLogger(__name__)

Method = Literal["hybrid", "fulltext", "vector"]


class RetrievalConfig(BaseModel):
    """Tuning of hybrid retrieval. Defaults were chosen on BEIR SciFact with the offline embedder (bench/RESULTS.md).

    ``fusion`` is ``rrf`` (weighted reciprocal rank fusion: ``w / (rrf_k + rank)`` summed over both lists),
    ``minmax`` (each method's scores min-max normalised over its candidates, then a weighted sum) or ``bounded``
    (BM25 divided by the most the query's terms could score, plus cosine similarity, weighted).
    """

    model_config = ConfigDict(frozen=True)

    fusion: Literal["rrf", "minmax", "bounded"] = "bounded"
    fulltext_weight: float = Field(default=1.0, ge=0)
    vector_weight: float = Field(default=0.5, ge=0)
    rrf_k: int = Field(default=60, ge=1)
    # Candidates each method contributes before fusion (never fewer than the requested limit). The vector list can
    # be short because every keyword candidate also gets its exact similarity (``bounded`` fusion): the scan only
    # has to find what the keywords missed, and on SciFact nDCG@10 is the same at 10, 20 or 100 (bench/RESULTS.md).
    fulltext_depth: int = Field(default=100, ge=1)
    vector_depth: int = Field(default=20, ge=1)
    # A query term's postings read at most, strongest first: bounds the cost of very common terms on big indexes
    # (a chunk outside a term's strongest postings loses only that term's small contribution).
    postings_per_term: int = Field(default=1000, ge=1)
    bm25_k1: float = Field(default=0.9, gt=0)
    bm25_b: float = Field(default=0.4, ge=0, le=1)
    # HNSW search breadth of vector-only search; never below the vector depth (pgvector returns at most ef_search
    # rows per scan). 150 finds 95% of the exact 10 nearest passages at 100,000 passages (bench/retrieval_speed.py).
    hnsw_ef_search: int = Field(default=150, ge=1)
    # The same for hybrid search, where every keyword candidate already has its exact similarity and the HNSW scan
    # only adds what the keywords missed: 40 costs a third less server CPU per query than 150 at 100,000 passages
    # with hybrid recall@10 unchanged (bench/RESULTS.md).
    hybrid_ef_search: int = Field(default=40, ge=1)
    # Let HNSW keep scanning when the access or source filter rejects candidates (pgvector >= 0.8).
    iterative_scan: bool = True
    # Fold near-duplicate passages into the best-ranked copy (``Passage.also_in`` names the others).
    collapse_near_duplicates: bool = True
    # Estimated Jaccard similarity of word 3-grams from which two passages are copies (bench/RESULTS.md).
    near_duplicate_similarity: float = Field(default=DEFAULT_NEAR_DUPLICATE_SIMILARITY, gt=0, le=1)
    # Fused passages fetched per passage asked for when collapsing, so folded copies leave room for others.
    collapse_overfetch: int = Field(default=2, ge=1)


class HybridRetriever:
    """The ``Retriever`` the agent uses; ``fulltext`` and ``vector`` expose each half for benchmarks and tests."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        embedder: Embedder,
        config: RetrievalConfig | None = None,
    ) -> None:
        self._sessions = sessions
        self._embedder = embedder
        self.config = config or RetrievalConfig()
        self._model: RegisteredModel | None = None

    async def search(self, query: SearchQuery) -> list[Passage]:
        """Hybrid search: the best passages the whole scope may read."""
        return await self.rank(query.text, query.scope, method="hybrid", limit=query.limit, sources=query.sources)

    async def fulltext(self, query: SearchQuery) -> list[Passage]:
        """BM25 only."""
        return await self.rank(query.text, query.scope, method="fulltext", limit=query.limit, sources=query.sources)

    async def vector(self, query: SearchQuery) -> list[Passage]:
        """Embedding similarity only."""
        return await self.rank(query.text, query.scope, method="vector", limit=query.limit, sources=query.sources)

    async def rank(
        self,
        query_text: str,
        scope: ReaderScope,
        *,
        method: Method = "hybrid",
        limit: int = 8,
        sources: tuple[str, ...] | None = None,
        exact: bool = False,
    ) -> list[Passage]:
        """Rank passages with one method, without ``SearchQuery``'s cap on ``limit`` (benchmarks need 100+).

        ``exact`` replaces the HNSW scan by an exact nearest-neighbour scan: slow, the reference for recall.
        """
        model = await self._registered_model() if method != "fulltext" else None
        use_vector = method != "fulltext" and model is not None
        use_fulltext = method != "vector"
        if not use_vector and not use_fulltext:
            return []  # vector search before anything was embedded with this model
        collapse = self.config.collapse_near_duplicates
        fused_limit = limit * self.config.collapse_overfetch if collapse else limit
        params: dict[str, Any] = {"query": query_text, "limit": fused_limit}
        access_sql = access_filter(scope, params)
        source_sql = ""
        if sources is not None:
            params["source_names"] = list(sources)
            source_sql = (
                " AND {alias}.source_id = ANY(ARRAY(SELECT id FROM kb_sources WHERE name = ANY(:source_names)))"
            )
        ctes: list[str] = []
        if use_fulltext:
            ctes.append(self._fulltext_cte(max(self.config.fulltext_depth, limit), access_sql, source_sql, params))
        vector_depth = max(self.config.vector_depth, limit)
        if use_vector:
            assert model is not None  # noqa: S101 - narrowed by use_vector
            params["query_vector"] = vector_literal((await self._embedder.embed([query_text]))[0])
            ctes.append(_vector_cte(model, vector_depth, access_sql, source_sql, exact))
        fused = self._fused_cte(model if use_vector else None, use_fulltext, params)
        sql = "WITH " + ",\n".join(ctes) + ",\n" + fused + _FINAL_SELECT
        ef_search = self.config.hybrid_ef_search if use_fulltext else self.config.hnsw_ef_search
        async with self._sessions() as session:
            iterative = "relaxed_order" if self.config.iterative_scan and not exact else "off"
            # One round trip for the per-query settings. Custom plans: a generic plan cannot see the query's
            # lexemes, their frequencies or the candidate depths, and is much slower here.
            await session.execute(
                text(
                    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                    "set_config('hnsw.ef_search', :ef, true), set_config('hnsw.iterative_scan', :it, true)"
                ),
                {"ef": str(max(vector_depth, ef_search)), "it": iterative},
            )
            rows = (await session.execute(text(sql), params)).all()
            await session.rollback()
        passages = [
            Passage(
                chunk_id=row.chunk_id,
                document_id=row.document_id,
                external_id=row.external_id,
                source=row.source,
                title=row.title,
                url=row.url,
                heading_path=list(row.heading_path),
                text=row.text,
                score=float(row.score),
                ordinal=row.ordinal,
            )
            for row in rows
        ]
        if not collapse:
            return passages[:limit]
        signatures = {row.chunk_id: row.minhash for row in rows}
        groups = collapse_near_duplicates(
            passages, lambda passage: signatures[passage.chunk_id], self.config.near_duplicate_similarity
        )
        return [_with_copies(group.representative, group.copies) for group in groups[:limit]]

    async def _registered_model(self) -> RegisteredModel | None:
        """The stored model matching the embedder; None until a sync has embedded something with it."""
        if self._model is None:
            async with self._sessions() as session:
                found = (
                    await session.execute(select(EmbeddingModel).where(EmbeddingModel.name == self._embedder.name))
                ).scalar_one_or_none()
            if found is None:
                logger.warning(
                    "no passages are embedded with %s yet; searching full text only until a sync runs",
                    self._embedder.name,
                )
                return None
            if found.dimensions != await embedder_dimensions(self._embedder):
                logger.error("embedding model %s changed dimension; re-sync with --full", self._embedder.name)
                return None
            self._model = RegisteredModel(found.id, found.name, found.dimensions)
        return self._model

    def _fulltext_cte(self, depth: int, access_sql: str, source_sql: str, params: dict[str, Any]) -> str:
        params.update(
            fulltext_depth=depth,
            k1=self.config.bm25_k1,
            b=self.config.bm25_b,
            postings_per_term=self.config.postings_per_term,
        )
        # Only our own SQL fragments are interpolated; everything the user typed is a bound parameter.
        return f"""
        corpus AS (
            SELECT greatest(sum(chunk_count), 1)::float8 AS n,
                   greatest(sum(total_length)::float8 / greatest(sum(chunk_count), 1), 1) AS avgdl
            FROM kb_corpus_stats
        ),
        query_terms AS (
            SELECT s.lexeme, ln(1 + (corpus.n - sum(s.df) + 0.5) / (sum(s.df) + 0.5)) AS idf
            FROM kb_lexeme_stats s CROSS JOIN corpus
            WHERE s.lexeme = ANY(tsvector_to_array(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, :query)))
            GROUP BY s.lexeme, corpus.n
            HAVING sum(s.df) > 0
        ),
        fulltext AS (
            SELECT p.chunk_id,
                   sum(t.idf * p.tf * (:k1 + 1) / (p.tf + :k1 * (1 - :b + :b * p.chunk_length / corpus.avgdl)))
                       AS score
            FROM query_terms t
            CROSS JOIN LATERAL (
                SELECT p.chunk_id, p.tf, p.chunk_length
                FROM kb_postings p
                WHERE p.lexeme = t.lexeme
                  AND (p.is_public OR EXISTS (
                      SELECT 1 FROM kb_chunks r WHERE r.id = p.chunk_id AND {access_sql.format(alias="r")}))
                  {source_sql.format(alias="p")}
                ORDER BY p.impact DESC
                LIMIT :postings_per_term
            ) p
            CROSS JOIN corpus
            GROUP BY p.chunk_id
            ORDER BY score DESC
            LIMIT :fulltext_depth
        ),
        fulltext_ranked AS (
            SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC) AS rank FROM fulltext
        )"""  # noqa: S608

    def _fused_cte(self, model: RegisteredModel | None, use_fulltext: bool, params: dict[str, Any]) -> str:
        use_vector = model is not None
        if use_fulltext and not use_vector:
            return "fused AS (SELECT chunk_id, score FROM fulltext_ranked ORDER BY rank LIMIT :limit)"
        if use_vector and not use_fulltext:
            return "fused AS (SELECT chunk_id, 1 - distance AS score FROM vector_ranked ORDER BY rank LIMIT :limit)"
        params.update(
            fulltext_weight=self.config.fulltext_weight,
            vector_weight=self.config.vector_weight,
            rrf_k=self.config.rrf_k,
        )
        if self.config.fusion == "rrf":
            fused_score = (
                "coalesce(:fulltext_weight / (:rrf_k + f.rank), 0) + coalesce(:vector_weight / (:rrf_k + v.rank), 0)"
            )
            bounds = ""
        elif self.config.fusion == "minmax":
            # Min-max normalise each list over its own candidates; a chunk missing from a list scores 0 there.
            bounds = """,
        bounds AS (
            SELECT (SELECT max(score) FROM fulltext_ranked) AS f_max, (SELECT min(score) FROM fulltext_ranked) AS f_min,
                   (SELECT max(distance) FROM vector_ranked) AS v_max,
                   (SELECT min(distance) FROM vector_ranked) AS v_min
        )"""
            fused_score = (
                ":fulltext_weight * coalesce((f.score - bounds.f_min) / nullif(bounds.f_max - bounds.f_min, 0), 1) "
                "* (f.chunk_id IS NOT NULL)::int "
                "+ :vector_weight * coalesce((bounds.v_max - v.distance) / nullif(bounds.v_max - bounds.v_min, 0), 1) "
                "* (v.chunk_id IS NOT NULL)::int"
            )
        else:
            # Absolute scales: BM25 as a share of the most the query's terms could score, cosine similarity as is.
            # A weak keyword match then stays weak instead of being stretched to 1 as min-max would. A keyword
            # candidate the vector scan did not reach gets its exact similarity (one vector read each), so no
            # candidate scores 0 for "not in the other list", and the vector scan only has to find what the
            # keywords missed: that is why it can stay shallow (``vector_depth``).
            assert model is not None  # noqa: S101 - use_vector
            dims = int(model.dimensions)
            bounds = f""",
        bounds AS (
            SELECT greatest((SELECT sum(idf) FROM query_terms) * (:k1 + 1), 1e-9) AS f_upper
        ),
        fulltext_similarity AS (
            SELECT f.chunk_id, 1 - ({indexed_embedding(dims, "c.embedding")} <=> {query_embedding(dims)}) AS similarity
            FROM fulltext_ranked f JOIN kb_chunks c ON c.id = f.chunk_id AND c.model_id = {int(model.id)}
        )"""  # noqa: S608
            keyword_part = ":fulltext_weight * coalesce(f.score / bounds.f_upper, 0)"
            fused_score = f"{keyword_part} + :vector_weight * coalesce(1 - v.distance, s.similarity, 0)"
        joins = " CROSS JOIN bounds" if bounds else ""
        if self.config.fusion == "bounded":
            joins += " LEFT JOIN fulltext_similarity s ON s.chunk_id = f.chunk_id"
        return f"""{bounds.lstrip(",")}{"," if bounds else ""}
        fused AS (
            SELECT coalesce(f.chunk_id, v.chunk_id) AS chunk_id, {fused_score} AS score
            FROM fulltext_ranked f FULL OUTER JOIN vector_ranked v ON v.chunk_id = f.chunk_id{joins}
            ORDER BY score DESC
            LIMIT :limit
        )"""  # noqa: S608


def _vector_cte(model: RegisteredModel, depth: int, access_sql: str, source_sql: str, exact: bool) -> str:
    # Model id and dimension are integers from our own table, written inline so the planner matches the partial
    # HNSW index ``(embedding::halfvec(D)) WHERE model_id = M`` (a bound parameter would hide the predicate).
    dims, model_id = int(model.dimensions), int(model.id)
    distance = f"{indexed_embedding(dims, 'c.embedding')} <=> {query_embedding(dims)}"
    # An expression the HNSW index cannot serve forces the exact scan.
    order = f"({distance}) + 0" if exact else distance
    return f"""
        vector_candidates AS MATERIALIZED (
            SELECT c.id AS chunk_id, {distance} AS distance
            FROM kb_chunks c
            WHERE c.model_id = {model_id}
                  AND (c.is_public OR {access_sql.format(alias="c")}){source_sql.format(alias="c")}
            ORDER BY {order}
            LIMIT {int(depth)}
        ),
        vector_ranked AS (
            SELECT chunk_id, distance, row_number() OVER (ORDER BY distance) AS rank FROM vector_candidates
        )"""  # noqa: S608


_FINAL_SELECT = """
SELECT fused.chunk_id, fused.score, c.document_id, c.url, c.heading_path, c.text, c.ordinal, c.minhash, d.title,
       d.external_id, s.name AS source
FROM fused
JOIN kb_chunks c ON c.id = fused.chunk_id
JOIN kb_documents d ON d.id = c.document_id
JOIN kb_sources s ON s.id = c.source_id
ORDER BY fused.score DESC, fused.chunk_id
"""


def _with_copies(representative: Passage, copies: list[Passage]) -> Passage:
    """The representative naming each other place its text appears (one entry per URL)."""
    named: dict[str, PassageCopy] = {}
    for copy in copies:
        if copy.url != representative.url and copy.url not in named:
            named[copy.url] = PassageCopy(
                document_id=copy.document_id,
                external_id=copy.external_id,
                source=copy.source,
                title=copy.title,
                url=copy.url,
            )
    return representative.model_copy(update={"also_in": list(named.values())}) if named else representative
