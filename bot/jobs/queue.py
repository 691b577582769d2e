"""The one job queue: procrastinate on the service's own PostgreSQL, so the only distributed engine an operator
runs is the database they already have.

Web processes only queue jobs; ``bot.jobs.worker`` runs them. Queuing can join the caller's transaction (pass its
psycopg connection), which is how a Slack event is deduplicated and queued in one commit: either both happen or
neither does, and nothing is lost between the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from procrastinate import App, PsycopgConnector
from procrastinate import exceptions as procrastinate_errors
from procrastinate import jobs as procrastinate_jobs
from pydantic import BaseModel

from bot.jobs.errors import JobNotFoundError, JobNotRetryableError
from bot.jobs.kinds import JobKind, OccurrenceJob
from knowledge import BackendPriority

# Each kind has a queue of its own (named after it), and a worker takes jobs only from the queues of the kinds it
# can run: a worker built without Slack never takes (and fails) a Slack answer, nor does an older replica's worker
# a job of a kind it does not know yet.
# A worker that has not written its heartbeat for this long is taken to be dead and its running jobs are retried.
STALLED_AFTER_SECONDS = 15.0

_LIST_JOBS = """
    SELECT job.id, job.task_name, job.status::text AS status, job.attempts, job.lock,
           (job.status = 'doing' AND (job.worker_id IS NULL OR worker.last_heartbeat < now()
                - make_interval(secs => %(stalled_after)s))) AS stalled,
           (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = job.id AND e.type = 'deferred')
               AS queued_at,
           (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = job.id AND e.type = 'started')
               AS started_at,
           (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = job.id
                AND e.type IN ('succeeded', 'failed', 'cancelled', 'aborted')) AS finished_at
    FROM procrastinate_jobs job
    LEFT JOIN procrastinate_workers worker ON worker.id = job.worker_id
    WHERE (%(status)s::text IS NULL OR job.status::text = %(status)s
           OR (%(status)s = 'stalled' AND job.status = 'doing'))
      AND (%(kind)s::text IS NULL OR job.task_name = %(kind)s)
      AND (%(job_id)s::bigint IS NULL OR job.id = %(job_id)s)
    ORDER BY job.id DESC
    LIMIT %(limit)s
"""

# An occurrence is queued once per (key, fire time), by procrastinate's own periodic-defer record (unique on task,
# key and timestamp), and never when a later occurrence of the key was already queued: procrastinate keeps only the
# newest record per key, so without that check a leader running late could queue an occurrence whose record a newer
# one had replaced.
_DEFER_OCCURRENCE = """
    SELECT procrastinate_defer_periodic_job_v2(%(queue)s, %(lock)s, %(queueing_lock)s, %(task_name)s, 0,
                                               %(key)s, %(timestamp)s, %(args)s) AS id
    WHERE NOT EXISTS (SELECT 1 FROM procrastinate_periodic_defers
                      WHERE periodic_id = %(key)s AND defer_timestamp >= %(timestamp)s)
"""

_LAST_OCCURRENCE = """
    SELECT max(defer_timestamp) AS timestamp FROM procrastinate_periodic_defers WHERE periodic_id = %(key)s
"""

_COUNTS = """
    SELECT job.task_name, job.status::text AS status, count(*) AS jobs,
           count(*) FILTER (WHERE job.status = 'doing' AND (job.worker_id IS NULL OR worker.last_heartbeat < now()
               - make_interval(secs => %(stalled_after)s))) AS stalled
    FROM procrastinate_jobs job
    LEFT JOIN procrastinate_workers worker ON worker.id = job.worker_id
    GROUP BY job.task_name, job.status
"""

_LIVE_WORKERS = """
    SELECT count(*) AS workers FROM procrastinate_workers
    WHERE last_heartbeat > now() - make_interval(secs => %(stalled_after)s)
"""

# Time in the queue (queued -> started) and running (started -> finished) of the jobs finished in the window.
_LATENCY = """
    WITH timings AS (
        SELECT job.task_name,
               (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = job.id AND e.type = 'deferred') AS queued,
               (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = job.id AND e.type = 'started') AS started,
               (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = job.id
                    AND e.type IN ('succeeded', 'failed')) AS finished
        FROM procrastinate_jobs job
        WHERE job.status IN ('succeeded', 'failed')
          AND job.id IN (SELECT e.job_id FROM procrastinate_events e
                         WHERE e.type IN ('succeeded', 'failed')
                           AND e.at > now() - make_interval(secs => %(window)s))
    )
    SELECT task_name,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started - queued)) AS wait_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM started - queued)) AS wait_p95,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished - started)) AS run_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished - started)) AS run_p95
    FROM timings GROUP BY task_name
"""


class JobLatency(BaseModel):
    """Seconds in the queue and running, for the jobs of a kind finished lately (``/metrics``)."""

    kind: str
    wait_p50: float
    wait_p95: float
    run_p50: float
    run_p95: float


class JobSummary(BaseModel):
    """One job as ``switchboard jobs list`` shows it."""

    id: int
    kind: str
    status: str
    attempts: int
    stalled: bool = False
    lock: str | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def runs(self) -> int:
        """How many times the job has been started (procrastinate counts a run once it ends)."""
        return self.attempts + (1 if self.status == "doing" else 0)

    @property
    def shown_status(self) -> str:
        """``stalled`` for a running job whose worker stopped sending heartbeats."""
        return "stalled" if self.stalled else self.status


class JobCount(BaseModel):
    """How many jobs of a kind are in a status (for ``/metrics`` and ``/healthz``)."""

    kind: str
    status: str
    jobs: int
    stalled: int = 0


class JobQueue:
    """Queue, list and retry jobs; ``app`` is the procrastinate app a worker runs on."""

    def __init__(
        self, database_url: str, *, max_connections: int = 4, backend_priority: BackendPriority | None = None
    ) -> None:
        """``database_url`` is a plain ``postgresql://`` URL (TCP or ``?host=/socket/dir``); ``backend_priority``
        lowers each connection's backend (a job worker's)."""
        self.database_url = database_url
        pool_options: dict[str, Any] = {}
        if backend_priority is not None:
            pool_options["configure"] = backend_priority.configure
        self.app = App(
            connector=PsycopgConnector(
                conninfo=database_url,
                min_size=1,
                max_size=max_connections,
                kwargs={"application_name": "switchboard-jobs"},
                **pool_options,
            )
        )

    async def open(self) -> None:
        await self.app.open_async()

    async def aclose(self) -> None:
        await self.app.close_async()

    async def defer(
        self,
        kind: JobKind,
        arguments: BaseModel,
        *,
        lock: str | None = None,
        queueing_lock: str | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> int:
        """Queue one job; returns its id. With ``connection`` it commits (or not) with the caller's transaction."""
        [job_id] = await self.defer_many(kind, [(arguments, lock, queueing_lock)], connection=connection)
        return job_id

    async def defer_many(
        self,
        kind: JobKind,
        jobs: list[tuple[BaseModel, str | None, str | None]],
        *,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[int]:
        """Queue several jobs of one kind in one statement: each ``(arguments, lock, queueing_lock)``."""
        if not jobs:
            return []
        planned = [
            procrastinate_jobs.Job(
                id=None,
                queue=kind.value,
                lock=lock,
                queueing_lock=queueing_lock,
                task_name=kind.value,
                task_kwargs=arguments.model_dump(mode="json"),
            )
            for arguments, lock, queueing_lock in jobs
        ]
        deferred = await self.app.job_manager.batch_defer_jobs_async(jobs=planned, connection=connection)
        return [cast(int, job.id) for job in deferred]

    async def defer_if_absent(
        self, kind: JobKind, arguments: BaseModel, *, queueing_lock: str, lock: str | None = None
    ) -> int | None:
        """Queue a job unless one with the same ``queueing_lock`` is still waiting; None when one is."""
        try:
            return await self.defer(kind, arguments, lock=lock, queueing_lock=queueing_lock)
        except procrastinate_errors.AlreadyEnqueued:
            return None

    async def defer_occurrence(
        self,
        kind: JobKind,
        arguments: OccurrenceJob,
        *,
        key: str,
        lock: str | None = None,
        queueing_lock: str | None = None,
    ) -> int | None:
        """Queue one occurrence of the timed job ``key`` at ``arguments.timestamp``, once however many replicas try.

        Returns the job's id, or None when this occurrence (or a later one of the same key) was already queued, or
        when ``queueing_lock`` is held by a job still waiting (the previous occurrence has not even started).
        """
        try:
            rows = await self.app.connector.execute_query_all_async(
                _DEFER_OCCURRENCE,
                queue=kind.value,
                lock=lock,
                queueing_lock=queueing_lock,
                task_name=kind.value,
                key=key,
                timestamp=arguments.timestamp,
                args=arguments.model_dump(mode="json"),
            )
        except procrastinate_errors.UniqueViolation:
            return None  # the queueing lock: an earlier occurrence is still waiting
        # No row: a later occurrence was queued already; a NULL id: this one was.
        return int(rows[0]["id"]) if rows and rows[0]["id"] is not None else None

    async def last_occurrence(self, key: str) -> datetime | None:
        """The newest occurrence of the timed job ``key`` ever queued: where catching up after downtime starts."""
        row = await self.app.connector.execute_query_one_async(_LAST_OCCURRENCE, key=key)
        timestamp = row["timestamp"]
        return None if timestamp is None else datetime.fromtimestamp(int(timestamp), UTC)

    async def list_jobs(
        self, *, status: str | None = None, kind: str | None = None, job_id: int | None = None, limit: int = 50
    ) -> list[JobSummary]:
        """Newest first; ``status`` is one of procrastinate's (todo, doing, succeeded, failed, ...) or ``stalled``."""
        rows = await self.app.connector.execute_query_all_async(
            _LIST_JOBS,
            status=status,
            kind=kind,
            job_id=job_id,
            limit=limit,
            stalled_after=STALLED_AFTER_SECONDS,
        )
        summaries = [JobSummary(kind=row["task_name"], **row) for row in rows]
        if status == "stalled":
            return [summary for summary in summaries if summary.stalled]
        return summaries

    async def counts(self) -> list[JobCount]:
        rows = await self.app.connector.execute_query_all_async(_COUNTS, stalled_after=STALLED_AFTER_SECONDS)
        return [JobCount(kind=row["task_name"], **row) for row in rows]

    async def live_workers(self) -> int:
        """Workers whose heartbeat is recent, in every process and replica."""
        row = await self.app.connector.execute_query_one_async(_LIVE_WORKERS, stalled_after=STALLED_AFTER_SECONDS)
        return int(row["workers"])

    async def latencies(self, window_seconds: float = 900.0) -> list[JobLatency]:
        rows = await self.app.connector.execute_query_all_async(_LATENCY, window=window_seconds)
        return [JobLatency(kind=row.pop("task_name"), **row) for row in rows if row["wait_p50"] is not None]

    async def retry(self, job_id: int) -> JobSummary:
        """Put a failed or stalled job back in the queue, to run now; returns it as it is afterwards."""
        found = await self.list_jobs(job_id=job_id, limit=1)
        if not found:
            raise JobNotFoundError(job_id)
        job = found[0]
        if job.status != "failed" and not job.stalled:
            raise JobNotRetryableError(
                f"job {job_id} is {job.shown_status}; only a failed or stalled job can be retried"
            )
        await self.app.job_manager.retry_job_by_id_async(job_id=job_id, retry_at=datetime.now(UTC))
        [after] = await self.list_jobs(job_id=job_id, limit=1)
        return after
