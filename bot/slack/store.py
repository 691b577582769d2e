"""Database access for the Slack channel's own state: event dedupe (with the queued answer job), answered threads,
posted answers. Each function is one short transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentAnswer
from bot.jobs import JobKind, SlackAnswerJob
from bot.slack.tables import SlackAnswer, SlackEvent, SlackThread

# Slack retries an event for about an hour at most; a day keeps every possible retry deduplicated.
EVENT_RETENTION = timedelta(days=1)

Sessions = async_sessionmaker[AsyncSession]


# One statement, one round trip: record the batch's events and queue an answer job for each first delivery, in the
# statement's own transaction (no event recorded without its job). A retry in the same batch as its original is a
# repeat: only its first position claims the id. The jobs reach procrastinate's defer function as one jsonb document
# whose records PostgreSQL builds: procrastinate's own batch defer sends an array of composite records, which psycopg
# quotes and escapes in Python, character by character of each job's arguments (the whole Slack event), measured at
# 160-200 ms for 50 jobs on the acknowledging event loop against 30-70 ms (bench/RESULTS.md).
_CLAIM_AND_QUEUE = """
    WITH delivered AS (
        SELECT item->>'event_id' AS event_id, item->'job' AS job, position
        FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS batch(item, position)
    ),
    firsts AS (
        SELECT DISTINCT ON (event_id) event_id, job, position FROM delivered ORDER BY event_id, position
    ),
    claimed AS (
        INSERT INTO slack_events (event_id) SELECT event_id FROM firsts
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id
    ),
    queued AS (
        SELECT procrastinate_defer_jobs_v1(ARRAY(
            SELECT ROW(%(queue)s::text, %(task_name)s::text, 0, firsts.job->>'lock', NULL::text, firsts.job->'args',
                       NULL::timestamptz)::procrastinate_job_to_defer_v1
            FROM firsts JOIN claimed USING (event_id)
            ORDER BY firsts.position
        )) AS ids
    )
    SELECT firsts.position FROM firsts JOIN claimed USING (event_id) CROSS JOIN queued
"""


# How long an acknowledgement waits for a connection: Slack wants its 200 within 3 s and retries otherwise.
CONNECT_SECONDS = 5.0


class EventClaimer:
    """Deduplicates events and queues their answer jobs, in batches.

    An event's dedupe row and its job are written in one statement: a Slack retry finds the row and queues nothing,
    and no event is ever recorded without its job. Concurrent claims wait for the batch in flight and go into the
    next one, so a burst of 50 events costs a few statements instead of 50 connections queueing for the pool. The
    claimer has a small psycopg pool of its own, so an acknowledgement never queues for a connection behind the
    answers, and pays no ORM or pre-ping round trip (measured: ``bench/slack_ack.py``).
    """

    def __init__(
        self, database_url: str, *, max_connections: int = 2, connect_seconds: float = CONNECT_SECONDS
    ) -> None:
        """``database_url`` is a plain ``postgresql://`` URL (TCP or ``?host=/socket/dir``); a claim waits at most
        ``connect_seconds`` for a connection."""
        self._pool = AsyncConnectionPool(
            conninfo=database_url,
            min_size=1,
            max_size=max_connections,
            kwargs={
                "autocommit": True,
                "application_name": "switchboard-slack-ack",
                "connect_timeout": max(1, round(connect_seconds)),
            },
            timeout=connect_seconds,
            open=False,
        )
        self._waiting: list[tuple[str, dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def claim(self, event_id: str, payload: dict[str, Any]) -> bool:
        """True when this is the first delivery of ``event_id`` (now queued); False for a repeat."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((event_id, payload, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def aclose(self) -> None:
        await self._pool.close()

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
        if self._pool.closed:  # only the one flusher task gets here
            # Not waiting for the first connection: a pool whose first wait timed out is closed for good, while an
            # open one keeps connecting in the background and each claim waits up to connect_seconds for it.
            await self._pool.open(wait=False)
        events: list[str] = []
        for event_id, payload, _ in batch:
            job = SlackAnswerJob(event_id=event_id, body=payload)
            events.append(
                f'{{"event_id": {json.dumps(event_id)}, '
                f'"job": {{"lock": {json.dumps(job.thread_lock)}, "args": {job.model_dump_json()}}}}}'
            )
        arguments = {
            "events": f"[{','.join(events)}]",
            "queue": JobKind.SLACK_ANSWER.value,  # each kind has a queue of its own (JobQueue.defer_many)
            "task_name": JobKind.SLACK_ANSWER.value,
        }
        try:
            return await self._run_claim(arguments)
        except PoolTimeout:
            raise  # no connection within the wait: the server is unreachable, and waiting again would not help
        except psycopg.OperationalError:
            # No ping before each use (a round trip per batch): a connection the server dropped (a restart) fails
            # here, and then the pool's idle connections are checked once, so the others it dropped go too. The
            # statement is atomic, so running it again is safe.
            await self._pool.check()
            return await self._run_claim(arguments)

    async def _run_claim(self, arguments: dict[str, str]) -> set[int]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(_CLAIM_AND_QUEUE, arguments)
            return {int(position) - 1 for (position,) in await cursor.fetchall()}


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
