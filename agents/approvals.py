"""Side-effect tool calls waiting for a person's decision, kept in a table so a restart loses none of them.

The run itself waits in its LangGraph checkpoint; this table says which run (thread), for whom (the original
request, to rebuild the run's context), whether someone already decided (so a double click resumes once), and where
the request is shown (its surface: the Slack message with the buttons), so a click finds its way back after a
restart. It is the only record of an approval: channels read and point at it, they keep no state machine of their
own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import DateTime, String, Text, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import func

from agents.answers import AgentRequest, PendingApproval
from agents.errors import ApprovalNotFoundError
from knowledge import Base


class ApprovalRow(Base):
    __tablename__ = "agent_approvals"

    approval_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), index=True)
    trace_id: Mapped[str] = mapped_column(String(64))
    tool_name: Mapped[str] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB)
    description: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # pending -> approved | rejected | superseded (a new question arrived in the thread before anyone decided)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Where the request is shown; all None until a channel shows it.
    surface: Mapped[str | None] = mapped_column(String(16), nullable=True)
    surface_workspace: Mapped[str | None] = mapped_column(String(64), nullable=True)
    surface_channel: Mapped[str | None] = mapped_column(String(64), nullable=True)
    surface_thread: Mapped[str | None] = mapped_column(String(64), nullable=True)
    surface_message: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApprovalSurface(BaseModel):
    """Where an approval request is shown, in the showing channel's own ids (for Slack: team, channel, thread ts
    and the ts of the message with the buttons, once it is posted)."""

    kind: str
    workspace: str
    channel: str
    thread: str
    message: str | None = None


class ApprovalRecord(BaseModel):
    """An approval as a channel sees it: what was asked, by whom, its state and where it is shown."""

    approval_id: str
    thread_id: str
    tool_name: str
    requested_by: str
    # pending | approved | rejected | superseded
    status: str
    decided_by: str | None = None
    surface: ApprovalSurface | None = None


class DecidedApproval(PendingApproval):
    """An approval with the run it belongs to, as ``decide`` hands it back to resume the run."""

    trace_id: str
    request: AgentRequest
    approved: bool
    decided_by: str


class ApprovalStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, approval: PendingApproval, *, trace_id: str, request: AgentRequest) -> None:
        """Store a pending approval; recording the same id again (the node re-runs on resume) changes nothing."""
        async with self._sessions.begin() as session:
            await session.execute(
                insert(ApprovalRow)
                .values(
                    approval_id=approval.approval_id,
                    thread_id=approval.thread_id,
                    trace_id=trace_id,
                    tool_name=approval.tool_name,
                    arguments=approval.arguments,
                    description=approval.description,
                    requested_by=approval.requested_by,
                    request=request.model_dump(mode="json"),
                )
                .on_conflict_do_nothing()
            )

    async def show_on(self, approval_id: str, surface: ApprovalSurface) -> None:
        """Point the approval at the message (or other surface) that shows it."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ApprovalRow)
                .where(ApprovalRow.approval_id == approval_id)
                .values(
                    surface=surface.kind,
                    surface_workspace=surface.workspace,
                    surface_channel=surface.channel,
                    surface_thread=surface.thread,
                    surface_message=surface.message,
                )
            )

    async def find(self, approval_id: str) -> ApprovalRecord | None:
        """The approval in any state, or None for an unknown id."""
        async with self._sessions() as session:
            row = await session.get(ApprovalRow, approval_id)
        if row is None:
            return None
        surface = None
        if row.surface is not None:
            surface = ApprovalSurface(
                kind=row.surface,
                workspace=row.surface_workspace or "",
                channel=row.surface_channel or "",
                thread=row.surface_thread or "",
                message=row.surface_message,
            )
        return ApprovalRecord(
            approval_id=row.approval_id,
            thread_id=row.thread_id,
            tool_name=row.tool_name,
            requested_by=row.requested_by,
            status=row.status,
            decided_by=row.decided_by,
            surface=surface,
        )

    async def pending(self, approval_id: str) -> PendingApproval:
        """The approval if it is still undecided.

        Raises:
            ApprovalNotFoundError: unknown id, or someone already decided it.
        """
        async with self._sessions() as session:
            row = await session.get(ApprovalRow, approval_id)
        if row is None:
            raise ApprovalNotFoundError(f"no action is waiting for approval under id {approval_id!r}")
        if row.status != "pending":
            by = f" by {row.decided_by}" if row.decided_by else ""
            raise ApprovalNotFoundError(f"the {row.tool_name} action {approval_id} was already {row.status}{by}")
        return PendingApproval.model_validate(row, from_attributes=True)

    async def decide(
        self, approval_id: str, *, approved: bool, decided_by: str, again: bool = False
    ) -> DecidedApproval:
        """Mark a pending approval decided, exactly once.

        ``again`` is a retry of the same resume (its first worker died after deciding): the decision it made, and
        only that one, is handed back instead of refused.

        Raises:
            ApprovalNotFoundError: unknown id, or someone already decided it.
        """
        async with self._sessions.begin() as session:
            row = await session.scalar(
                update(ApprovalRow)
                .where(ApprovalRow.approval_id == approval_id, ApprovalRow.status == "pending")
                .values(status="approved" if approved else "rejected", decided_by=decided_by, decided_at=func.now())
                .returning(ApprovalRow)
            )
            if row is None:
                existing = await session.get(ApprovalRow, approval_id)
                if existing is None:
                    raise ApprovalNotFoundError(f"no action is waiting for approval under id {approval_id!r}")
                status = "approved" if approved else "rejected"
                if again and existing.status == status and existing.decided_by == decided_by:
                    row = existing
                    return _decided(row, approved=approved, decided_by=decided_by)
                raise ApprovalNotFoundError(
                    f"the {existing.tool_name} action {approval_id} was already {existing.status}"
                    + (f" by {existing.decided_by}" if existing.decided_by else "")
                )
            return _decided(row, approved=approved, decided_by=decided_by)

    async def supersede(self, thread_id: str) -> int:
        """Close the thread's undecided approvals because a new question replaced the paused run."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ApprovalRow)
                .where(ApprovalRow.thread_id == thread_id, ApprovalRow.status == "pending")
                .values(status="superseded", decided_at=func.now())
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _decided(row: ApprovalRow, *, approved: bool, decided_by: str) -> DecidedApproval:
    return DecidedApproval(
        approval_id=row.approval_id,
        thread_id=row.thread_id,
        tool_name=row.tool_name,
        arguments=row.arguments,
        description=row.description,
        requested_by=row.requested_by,
        trace_id=row.trace_id,
        request=AgentRequest.model_validate(row.request),
        approved=approved,
        decided_by=decided_by,
    )
