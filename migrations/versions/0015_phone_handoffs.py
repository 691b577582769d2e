"""phone: a call remembers when it was put through to a person, and its intake says so

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("phone_calls", sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("phone_intakes", sa.Column("handed_over", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("phone_intakes", "handed_over")
    op.drop_column("phone_calls", "handed_over_at")
