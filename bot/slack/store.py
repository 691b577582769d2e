"""Database access for the Slack channel's own state: event dedupe and recovery, answered threads, posted answers.
Each function is one short transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer
from bot.slack.tables import SlackAnswer, SlackEvent, SlackThread

# Longer than any agent run: an event still pending after this is taken to be lost with its process and retried.
EVENT_LEASE = timedelta(minutes=10)
MAX_EVENT_ATTEMPTS = 3
# Slack retries an event for about an hour at most; a day keeps every possible retry deduplicated.
EVENT_RETENTION = timedelta(days=1)

Sessions = async_sessionmaker[AsyncSession]


_CLAIM_EVENTS = text(
    """
    INSERT INTO slack_events (event_id, payload, status, attempts, lease_until)
    SELECT incoming.event_id, incoming.payload, 'pending', 1, now() + make_interval(secs => :lease_seconds)
    FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS incoming(event_id text, payload jsonb)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)


async def claim_event(sessions: Sessions, event_id: str, payload: dict[str, Any]) -> bool:
    """Store an incoming event; False when it was already stored (a Slack retry, or a replica got it first)."""
    async with sessions.begin() as session:
        connection = await session.connection()
        return event_id in await claim_events(connection, [(event_id, payload)])


async def claim_events(connection: AsyncConnection, events: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Store several events in one statement (one fixed SQL text, so no per-batch compiling); returns the new ids.

    Commits only if ``connection`` is in autocommit mode or its caller commits.
    """
    rows = [{"event_id": event_id, "payload": payload} for event_id, payload in dict(events).items()]
    result = await connection.execute(
        _CLAIM_EVENTS, {"events": json.dumps(rows), "lease_seconds": EVENT_LEASE.total_seconds()}
    )
    return {row[0] for row in result}


class EventClaimer:
    """Stores events before they are acknowledged, many at once under a burst.

    Concurrent claims wait for the batch in flight and go into the next one, so a burst of 50 events costs a few
    INSERTs and commits instead of 50 connections queueing for the pool; the acknowledgement stays fast.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        # Autocommit: the INSERT is its own transaction, without BEGIN / COMMIT round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._waiting: list[tuple[str, dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def claim(self, event_id: str, payload: dict[str, Any]) -> bool:
        """True when this is the first delivery of ``event_id`` (now stored); False for a repeat."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((event_id, payload, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._engine.connect() as connection:
                    new = await claim_events(connection, [(event_id, payload) for event_id, payload, _ in batch])
            except Exception as error:  # handed to every waiting request, which fails its acknowledgement
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for event_id, _, future in batch:
                # A retry in the same batch as its original is a repeat: only the first one claims the id.
                first = event_id in new
                new.discard(event_id)
                if not future.done():
                    future.set_result(first)


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


async def prune_finished_events(sessions: Sessions, older_than: timedelta = EVENT_RETENTION) -> int:
    """Forget finished events once Slack can no longer retry them, so the table stays small; returns how many."""
    async with sessions.begin() as session:
        result = await session.execute(
            delete(SlackEvent).where(
                SlackEvent.status != "pending", SlackEvent.received_at < datetime.now(UTC) - older_than
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


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
