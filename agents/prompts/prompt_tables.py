"""The prompt tables: every version ever written (append-only), and which version of each name is live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKeyConstraint, Identity, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from knowledge import Base


class PromptVersionRow(Base):
    __tablename__ = "agent_prompt_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_agent_prompt_versions_name_version"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    # Why this version exists: "seeded from answer.md", "rollback to v2", or the editor's note.
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PromptRow(Base):
    """One row per prompt name: the live pointer. The composite foreign key keeps it on an existing version."""

    __tablename__ = "agent_prompts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "live_version"],
            ["agent_prompt_versions.name", "agent_prompt_versions.version"],
            name="fk_agent_prompts_live_version",
        ),
    )

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    live_version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
