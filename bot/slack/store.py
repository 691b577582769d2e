"""Database access for the Slack channel's own state: event dedupe and recovery, answered threads, posted answers
and approvals. Each function is one short transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentAnswer, PendingApproval
from bot.slack.tables import SlackAnswer, SlackApproval, SlackEvent, SlackThread

# Longer than any agent run: an event still pending after this is taken to be lost with its process and retried.
EVENT_LEASE = timedelta(minutes=10)
MAX_EVENT_ATTEMPTS = 3

Sessions = async_sessionmaker[AsyncSession]


async def claim_event(sessions: Sessions, event_id: str, payload: dict[str, Any]) -> bool:
    """Store an incoming event; False when it was already stored (a Slack retry, or a replica got it first)."""
    async with sessions.begin() as session:
        result = await session.execute(
            insert(SlackEvent)
            .values(
                event_id=event_id,
                payload=payload,
                status="pending",
                attempts=1,
                lease_until=datetime.now(UTC) + EVENT_LEASE,
            )
            .on_conflict_do_nothing(index_elements=[SlackEvent.event_id])
            .returning(SlackEvent.event_id)
        )
        return result.first() is not None


async def finish_event(sessions: Sessions, event_id: str, status: str) -> None:
    """Mark an event ``done``, ``ignored`` or ``failed`` so neither a retry nor recovery runs it again."""
    async with sessions.begin() as session:
        await session.execute(
            update(SlackEvent)
            .where(SlackEvent.event_id == event_id)
            .values(status=status, finished_at=datetime.now(UTC))
        )


async def reclaim_abandoned_events(sessions: Sessions, limit: int = 20) -> list[dict[str, Any]]:
    """Take over events whose worker vanished (lease expired, still pending); gives up after a few attempts."""
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await session.execute(
            update(SlackEvent)
            .where(
                SlackEvent.status == "pending",
                SlackEvent.lease_until < now,
                SlackEvent.attempts >= MAX_EVENT_ATTEMPTS,
            )
            .values(status="failed", finished_at=now)
        )
        candidates = (
            select(SlackEvent.event_id)
            .where(SlackEvent.status == "pending", SlackEvent.lease_until < now)
            .order_by(SlackEvent.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await session.execute(
            update(SlackEvent)
            .where(SlackEvent.event_id.in_(candidates))
            .values(lease_until=now + EVENT_LEASE, attempts=SlackEvent.attempts + 1)
            .returning(SlackEvent.payload)
        )
        return [row[0] for row in result]


async def remember_thread(sessions: Sessions, team_id: str, channel_id: str, thread_ts: str) -> None:
    async with sessions.begin() as session:
        await session.execute(
            insert(SlackThread)
            .values(team_id=team_id, channel_id=channel_id, thread_ts=thread_ts)
            .on_conflict_do_nothing()
        )


async def is_answered_thread(sessions: Sessions, team_id: str, channel_id: str, thread_ts: str) -> bool:
    async with sessions() as session:
        found = await session.get(SlackThread, (team_id, channel_id, thread_ts))
        return found is not None


async def record_answer(
    sessions: Sessions,
    answer: AgentAnswer,
    *,
    team_id: str,
    channel_id: str,
    thread_ts: str,
    message_ts: str,
    asker_id: str,
) -> None:
    """Keep the prompt versions and source URLs an answer used, for ratings given on it later."""
    values = {
        "team_id": team_id,
        "channel_id": channel_id,
        "thread_ts": thread_ts,
        "message_ts": message_ts,
        "asker_id": asker_id,
        "prompt_versions": dict(answer.prompt_versions),
        "source_urls": [citation.url for citation in answer.citations],
    }
    async with sessions.begin() as session:
        await session.execute(
            insert(SlackAnswer)
            .values(trace_id=answer.trace_id, **values)
            .on_conflict_do_update(index_elements=[SlackAnswer.trace_id], set_=values)
        )


async def find_answer(sessions: Sessions, trace_id: str) -> SlackAnswer | None:
    async with sessions() as session:
        return await session.get(SlackAnswer, trace_id)


async def store_approval(
    sessions: Sessions, pending: PendingApproval, *, team_id: str, channel_id: str, thread_ts: str
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            insert(SlackApproval)
            .values(
                approval_id=pending.approval_id,
                team_id=team_id,
                channel_id=channel_id,
                thread_ts=thread_ts,
                requested_by=pending.requested_by,
                tool_name=pending.tool_name,
                status="pending",
            )
            .on_conflict_do_nothing()
        )


async def set_approval_message(sessions: Sessions, approval_id: str, message_ts: str) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(SlackApproval).where(SlackApproval.approval_id == approval_id).values(message_ts=message_ts)
        )


async def find_approval(sessions: Sessions, approval_id: str) -> SlackApproval | None:
    async with sessions() as session:
        return await session.get(SlackApproval, approval_id)


async def decide_approval(sessions: Sessions, approval_id: str, *, approved: bool, decided_by: str) -> bool:
    """Record the decision; False when someone else decided first (double clicks, two admins at once)."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(SlackApproval)
            .where(SlackApproval.approval_id == approval_id, SlackApproval.status == "pending")
            .values(
                status="approved" if approved else "rejected",
                decided_by=decided_by,
                decided_at=datetime.now(UTC),
            )
            .returning(SlackApproval.approval_id)
        )
        return result.first() is not None
