"""Tables of permission-synced (SaaS) sources: resumable checkpoints, external groups, unreadable permissions.

Kept apart from the index tables: the index holds what may be searched; these hold where a connector stopped,
who is in each group a source defines, and which documents are hidden because their permissions could not be read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, PrimaryKeyConstraint, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from knowledge.database import Base


class SourceSyncState(Base):
    """One row per source: the connector's checkpoint (where an interrupted sync resumes) and permission sync state."""

    __tablename__ = "kb_source_state"

    source_id: Mapped[int] = mapped_column(ForeignKey("kb_sources.id", ondelete="CASCADE"), primary_key=True)
    # Opaque to everyone but the connector that wrote it (page cursors, "synced through" times).
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    checkpoint_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    permissions_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last permission sync's problem (a group that could not be listed, a refused token); None when it worked.
    permissions_error: Mapped[str | None] = mapped_column(Text)


class ExternalGroupMember(Base):
    """One member of a group a source defines (a GitHub team, a Confluence group, a Slack channel)."""

    __tablename__ = "kb_external_group_members"
    __table_args__ = (
        PrimaryKeyConstraint("source_id", "group_principal", "member", name="kb_external_group_members_pkey"),
        # Building a reader's scope looks groups up by member.
        Index("kb_external_group_members_member_idx", "member"),
    )

    source_id: Mapped[int] = mapped_column(ForeignKey("kb_sources.id", ondelete="CASCADE"))
    # ``external_group_principal(source, group)``: the form stored on documents.
    group_principal: Mapped[str] = mapped_column(Text)
    # The member's identity principal: ``email:...`` or a Slack user id.
    member: Mapped[str] = mapped_column(Text)


class DocumentAccessFailure(Base):
    """A document visible to nobody because its source could not say who may read it (fail closed)."""

    __tablename__ = "kb_access_failures"

    document_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("kb_documents.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
