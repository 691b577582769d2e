"""Tables of the knowledge index: sources, documents, chunks, BM25 statistics, embedding models and sync runs.

Design decisions worth knowing before changing anything here:

* **One ``vector`` column of any dimension.** Models differ in dimension (256 for the offline WordLlama default,
  768-3072 for hosted ones), so ``kb_chunks.embedding`` is an untyped ``vector`` and every chunk records the
  ``model_id`` that produced it. Registering a model (``kb_embedding_models``) creates a *partial* HNSW index on
  ``(embedding::halfvec(D)) WHERE model_id = M``; searches use the same expression and filter, so each model gets a
  correctly typed cosine index and vectors of two models are never compared. The index holds half-precision copies
  (``halfvec``): half the pages read per search, and up to 4,000 dimensions where ``vector`` indexes stop at 2,000;
  the table keeps full precision. A table per dimension was the
  alternative; it multiplies the SQL without making anything faster.
* **BM25 in SQL.** PostgreSQL's ``ts_rank`` has no IDF and ranks SciFact about 0.09 nDCG@10 below BM25. The
  generated ``tsv`` column keeps PostgreSQL's stemming; sync copies its lexemes into ``kb_postings`` (lexeme,
  chunk, term frequency, chunk length) and keeps per-source document frequencies (``kb_lexeme_stats``) and corpus
  sizes (``kb_corpus_stats``) up to date in the same transaction, so a query scores only the postings of its own
  terms instead of unnesting every matching chunk's ``tsvector``; postings are indexed strongest-first per lexeme
  so the cost of a very common term is bounded.
* **Access copied onto chunks and postings**, so the permission filter runs inside the index scans instead of
  after a join to documents.
"""

from __future__ import annotations

from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REAL, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.database import Base

# The text search configuration of the index; queries must use the same one. Changing it needs a migration.
TEXT_SEARCH_CONFIG = "english"

# pgvector's limit for HNSW indexes on halfvec.
MAX_INDEXED_DIMENSIONS = 4000


def indexed_embedding(dimensions: int, column: str = "embedding") -> str:
    """The expression a model's HNSW index is built on; a search must use exactly this one to be served by it."""
    return f"{column}::halfvec({int(dimensions)})"


def query_embedding(dimensions: int, parameter: str = "query_vector") -> str:
    """A bound query vector typed to compare with ``indexed_embedding``."""
    return f"CAST(:{parameter} AS halfvec({int(dimensions)}))"


class KnowledgeSource(Base):
    """A configured source, by its name from the config file."""

    __tablename__ = "kb_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EmbeddingModel(Base):
    """An embedding model whose vectors are stored; each gets its own partial HNSW index."""

    __tablename__ = "kb_embedding_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    dimensions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IndexedDocument(Base):
    """A document as last synced: enough to decide next time whether it changed."""

    __tablename__ = "kb_documents"
    __table_args__ = (UniqueConstraint("source_id", "external_id", name="kb_documents_source_external_id_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("kb_sources.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    # sha256 over title, URL, content, access and the chunking settings: equal hash, nothing to redo.
    content_hash: Mapped[str] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    source_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    is_public: Mapped[bool] = mapped_column(Boolean)
    principals: Mapped[list[str]] = mapped_column(ARRAY(Text))
    embedding_model_id: Mapped[int | None] = mapped_column(ForeignKey("kb_embedding_models.id"))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)


class IndexedChunk(Base):
    """One passage with its vector, its full-text vector and a copy of its document's access list."""

    __tablename__ = "kb_chunks"
    __table_args__ = (
        Index("kb_chunks_document_id_idx", "document_id"),
        Index("kb_chunks_text_hash_idx", "text_hash", "model_id"),
        Index("kb_chunks_principals_idx", "principals", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("kb_documents.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # Title + heading path + text: what is embedded and indexed.
    search_text: Mapped[str] = mapped_column(Text)
    heading_path: Mapped[list[str]] = mapped_column(ARRAY(Text))
    anchor: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    # sha256 of search_text: the embedding cache key (with model_id).
    text_hash: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("kb_embedding_models.id"))
    embedding: Mapped[list[float] | None] = mapped_column(Vector())
    is_public: Mapped[bool] = mapped_column(Boolean)
    principals: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # MinHash signature of the text (knowledge.near_duplicates); NULL for chunks written before signatures existed.
    minhash: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    tsv: Mapped[str] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, search_text)", persisted=True)
    )


class Posting(Base):
    """One lexeme of one chunk, with what BM25 needs; kept in step with ``kb_chunks`` by sync.

    ``impact`` is the BM25 term weight (k1=0.9, b=0.4) at the time the chunk was written. It only orders a term's
    postings, so a query can read the strongest ones first and stop after a fixed number for very common terms;
    the score itself is always computed from ``tf`` and ``chunk_length`` at query time.
    """

    __tablename__ = "kb_postings"
    __table_args__ = (
        PrimaryKeyConstraint("chunk_id", "lexeme", name="kb_postings_pkey"),
        # Covering: a query reads each term's postings, strongest first, with an index-only scan.
        Index(
            "kb_postings_lexeme_impact_idx",
            "lexeme",
            text("impact DESC"),
            postgresql_include=["chunk_id", "tf", "chunk_length", "is_public", "source_id"],
        ),
    )

    lexeme: Mapped[str] = mapped_column(Text)
    # No foreign key: a trigger call per posting was a quarter of the write cost. The sync engine removes a chunk's
    # postings before the chunk itself (knowledge.bm25_postings), always (migration 0017).
    chunk_id: Mapped[int] = mapped_column(BigInteger)
    source_id: Mapped[int] = mapped_column(Integer)
    tf: Mapped[int] = mapped_column(SmallInteger)
    chunk_length: Mapped[int] = mapped_column(Integer)
    is_public: Mapped[bool] = mapped_column(Boolean)
    impact: Mapped[float] = mapped_column(REAL)


class LexemeStats(Base):
    """In how many chunks of a source a lexeme occurs (BM25's document frequency)."""

    __tablename__ = "kb_lexeme_stats"

    lexeme: Mapped[str] = mapped_column(Text, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("kb_sources.id", ondelete="CASCADE"), primary_key=True)
    df: Mapped[int] = mapped_column(Integer)


class CorpusStats(Base):
    """Chunk count and total length per source (BM25's N and average length); one row per source."""

    __tablename__ = "kb_corpus_stats"

    source_id: Mapped[int] = mapped_column(ForeignKey("kb_sources.id", ondelete="CASCADE"), primary_key=True)
    chunk_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_length: Mapped[int] = mapped_column(BigInteger, default=0)


class SyncRun(Base):
    """One sync of one source: when, how it ended and what it did."""

    __tablename__ = "kb_sync_runs"
    __table_args__ = (Index("kb_sync_runs_source_started_idx", "source_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("kb_sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # running, succeeded, failed, interrupted
    status: Mapped[str] = mapped_column(String(20))
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    reembedded: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class SyncRunFailure(Base):
    """One document that could not be synced in a run, and why."""

    __tablename__ = "kb_sync_errors"
    __table_args__ = (Index("kb_sync_errors_run_id_idx", "run_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("kb_sync_runs.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    # The document's access list when it was known at the failure (NULL: unknown), as on kb_documents.
    is_public: Mapped[bool | None] = mapped_column(Boolean)
    principals: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
