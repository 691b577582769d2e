"""knowledge: drop the unused GIN on chunk tsvectors and the per-row foreign key check of BM25 postings

Search scores BM25 from kb_postings and never reads kb_chunks.tsv through an index, so its GIN index was pure write
cost on every chunk. The postings' foreign key to kb_chunks cost a trigger call per posting (a quarter of a batch's
posting write): postings are removed by the sync engine before their chunks (knowledge.bm25_postings), always.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("kb_chunks_tsv_idx", table_name="kb_chunks")
    op.drop_constraint("kb_postings_chunk_id_fkey", "kb_postings", type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM kb_postings p WHERE NOT EXISTS (SELECT 1 FROM kb_chunks c WHERE c.id = p.chunk_id)")
    op.create_foreign_key(
        "kb_postings_chunk_id_fkey", "kb_postings", "kb_chunks", ["chunk_id"], ["id"], ondelete="CASCADE"
    )
    op.create_index("kb_chunks_tsv_idx", "kb_chunks", ["tsv"], postgresql_using="gin")
