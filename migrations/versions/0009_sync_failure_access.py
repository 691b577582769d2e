"""knowledge: a failed document's access list, so /kb status names it only to those who may read it

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: the access was not known when the document failed (older rows too); its title is then shown to nobody.
    op.add_column("kb_sync_errors", sa.Column("is_public", sa.Boolean(), nullable=True))
    op.add_column("kb_sync_errors", sa.Column("principals", postgresql.ARRAY(sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("kb_sync_errors", "principals")
    op.drop_column("kb_sync_errors", "is_public")
