"""knowledge index: sources, documents, chunks, BM25 statistics, embedding models, sync runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "kb_embedding_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, unique=True),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "kb_documents",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("kb_sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("principals", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("embedding_model_id", sa.Integer(), sa.ForeignKey("kb_embedding_models.id"), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("source_id", "external_id", name="kb_documents_source_external_id_key"),
    )
    op.create_table(
        "kb_chunks",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("document_id", sa.BigInteger(), sa.ForeignKey("kb_documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("heading_path", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("anchor", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("kb_embedding_models.id"), nullable=True),
        sa.Column("embedding", Vector(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("principals", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('english'::regconfig, search_text)", persisted=True),
            nullable=False,
        ),
    )
    op.create_index("kb_chunks_document_id_idx", "kb_chunks", ["document_id"])
    op.create_index("kb_chunks_text_hash_idx", "kb_chunks", ["text_hash", "model_id"])
    op.create_index("kb_chunks_tsv_idx", "kb_chunks", ["tsv"], postgresql_using="gin")
    op.create_index("kb_chunks_principals_idx", "kb_chunks", ["principals"], postgresql_using="gin")
    op.create_table(
        "kb_postings",
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("chunk_id", sa.BigInteger(), sa.ForeignKey("kb_chunks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("tf", sa.SmallInteger(), nullable=False),
        sa.Column("chunk_length", sa.Integer(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("impact", postgresql.REAL(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_id", "lexeme", name="kb_postings_pkey"),
    )
    # Covering, strongest first: each query term's postings come from an index-only scan that can stop early.
    op.create_index(
        "kb_postings_lexeme_impact_idx",
        "kb_postings",
        ["lexeme", sa.text("impact DESC")],
        postgresql_include=["chunk_id", "tf", "chunk_length", "is_public", "source_id"],
    )
    op.create_table(
        "kb_lexeme_stats",
        sa.Column("lexeme", sa.Text(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("kb_sources.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("df", sa.Integer(), nullable=False),
    )
    op.create_table(
        "kb_corpus_stats",
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("kb_sources.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("chunk_count", sa.BigInteger(), nullable=False),
        sa.Column("total_length", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "kb_sync_runs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("kb_sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("reembedded", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("kb_sync_runs_source_started_idx", "kb_sync_runs", ["source_id", "started_at"])
    op.create_table(
        "kb_sync_errors",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("kb_sync_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("kb_sync_errors_run_id_idx", "kb_sync_errors", ["run_id"])


def downgrade() -> None:
    op.drop_table("kb_sync_errors")
    op.drop_table("kb_sync_runs")
    op.drop_table("kb_corpus_stats")
    op.drop_table("kb_lexeme_stats")
    op.drop_table("kb_postings")
    op.drop_table("kb_chunks")
    op.drop_table("kb_documents")
    op.drop_table("kb_embedding_models")
    op.drop_table("kb_sources")
