"""knowledge: a MinHash signature per passage, so near-duplicate passages collapse at query time

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: passages written before have none and are never collapsed until they are written again.
    op.add_column("kb_chunks", sa.Column("minhash", postgresql.ARRAY(sa.Integer()), nullable=True))
    # Links are now resolved and template noise dropped when a document is chunked. Forgetting the stored change
    # validators makes the next sync fetch and re-chunk every document once (sources otherwise report an unchanged
    # file or a 304 without it ever reaching the chunker), which also gives every passage its signature.
    op.execute("UPDATE kb_documents SET content_hash = '', etag = NULL, last_modified = NULL")


def downgrade() -> None:
    op.drop_column("kb_chunks", "minhash")
