"""Database access for the Slack channel's own state: event dedupe (with the queued answer job), answered threads,
posted answers. Each function is one short transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer
from bot.jobs import JobKind, JobQueue, SlackAnswerJob
from bot.slack.tables import SlackAnswer, SlackEvent, SlackThread

# Slack retries an event for about an hour at most; a day keeps every possible retry deduplicated.
EVENT_RETENTION = timedelta(days=1)

Sessions = async_sessionmaker[AsyncSession]


_CLAIM_EVENTS = text(
    """
    INSERT INTO slack_events (event_id)
    SELECT incoming.event_id FROM unnest(CAST(:event_ids AS text[])) AS incoming(event_id)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
    """
)


# procrastinate's own batch defer sends the jobs as an array of composite records, which psycopg quotes and escapes
# in Python, character by character of every job's arguments (here the whole Slack event): measured 160-200 ms for 50
# answer jobs, all of it on the acknowledging event loop while 50 requests wait. The same call to procrastinate's
# defer function, with its records built in the database from one jsonb document, took 30-70 ms.
_QUEUE_ANSWERS = """
    SELECT unnest(procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW(%(queue)s::text, %(task_name)s::text, 0, job->>'lock', NULL::text, job->'args',
                   NULL::timestamptz)::procrastinate_job_to_defer_v1
        FROM jsonb_array_elements(%(jobs)s::jsonb) WITH ORDINALITY AS queued(job, position)
        ORDER BY position
    ))) AS id
"""


async def claim_events(connection: AsyncConnection, event_ids: list[str]) -> set[str]:
    """Record several events in one statement (one fixed SQL text, so no per-batch compiling); returns the new ids.

    Commits with the caller's transaction.
    """
    result = await connection.execute(_CLAIM_EVENTS, {"event_ids": list(dict.fromkeys(event_ids))})
    return {row[0] for row in result}


class EventClaimer:
    """Deduplicates events and queues their answers before they are acknowledged, many at once under a burst.

    An event's dedupe row and its job are written in one transaction: a Slack retry finds the row and queues nothing,
    and no event is ever recorded without its job. Concurrent claims wait for the batch in flight and go into the
    next one, so a burst of 50 events costs a few statements and commits instead of 50 connections queueing for the
    pool; the acknowledgement stays fast.
    """

    def __init__(self, engine: AsyncEngine, queue: JobQueue) -> None:
        self._engine = engine
        self._queue = queue
        self._waiting: list[tuple[str, dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def claim(self, event_id: str, payload: dict[str, Any]) -> bool:
        """True when this is the first delivery of ``event_id`` (now queued); False for a repeat."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((event_id, payload, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                first = await self._claim_and_queue(batch)
            except Exception as error:  # handed to every waiting request, which fails its acknowledgement
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for index, (_, _, future) in enumerate(batch):
                if not future.done():
                    future.set_result(index in first)

    async def _claim_and_queue(self, batch: list[tuple[str, dict[str, Any], asyncio.Future[bool]]]) -> set[int]:
        """The positions in ``batch`` that were first deliveries, each now queued as an answer job."""
        async with self._engine.begin() as connection:
            new = await claim_events(connection, [event_id for event_id, _, _ in batch])
            first: set[int] = set()
            jobs: list[str] = []
            for index, (event_id, payload, _) in enumerate(batch):
                # A retry in the same batch as its original is a repeat: only the first one claims the id.
                if event_id in new:
                    new.discard(event_id)
                    first.add(index)
                    job = SlackAnswerJob(event_id=event_id, body=payload)
                    jobs.append(f'{{"lock": {json.dumps(job.thread_lock)}, "args": {job.model_dump_json()}}}')
            if jobs:
                raw = await connection.get_raw_connection()
                await self._queue.app.connector.execute_query_all_async_with_connection(
                    raw.driver_connection,
                    _QUEUE_ANSWERS,
                    queue=JobKind.SLACK_ANSWER.value,  # each kind has a queue of its own (JobQueue.defer_many)
                    task_name=JobKind.SLACK_ANSWER.value,
                    jobs=f"[{','.join(jobs)}]",
                )
        return first


async def remember_working_message(sessions: Sessions, event_id: str, *, working_ts: str) -> None:
    """Keep the "working on it" message of an event's answer: a retried job answers in it instead of a new one."""
    async with sessions.begin() as session:
        await session.execute(update(SlackEvent).where(SlackEvent.event_id == event_id).values(working_ts=working_ts))


async def working_message_of(sessions: Sessions, event_id: str) -> str | None:
    async with sessions() as session:
        found = await session.get(SlackEvent, event_id)
        return None if found is None else found.working_ts


async def prune_old_events(sessions: Sessions, older_than: timedelta = EVENT_RETENTION) -> int:
    """Forget events once Slack can no longer retry them, so the table stays small; returns how many."""
    async with sessions.begin() as session:
        result = await session.execute(
            delete(SlackEvent).where(SlackEvent.received_at < datetime.now(UTC) - older_than)
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
