"""Prometheus metrics for one service instance, in its own registry (no process-wide singletons).

Labels hold only values from small, known sets (routes, channels, outcomes, prompt names and versions, configured
source names): never user ids, channel ids or free text, so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from agents import TraceRecord
from bot import __version__
from bot.jobs import JobCount, JobLatency
from knowledge import SyncSummary

SLOW_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
SYNC_DOCUMENT_OUTCOMES = ("added", "updated", "unchanged", "deleted", "failed")


class ServiceMetrics:
    """The instruments the service updates; ``render()`` gives the text ``GET /metrics`` serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.info = Gauge("switchboard_info", "Switchboard build information", ["version"], registry=self.registry)
        self.info.labels(version=__version__).set(1)
        self.http_requests = Counter(
            "switchboard_http_requests",
            "HTTP requests served",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "switchboard_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.database_up = Gauge(
            "switchboard_database_up", "1 when the last health check reached the database", registry=self.registry
        )

        self.agent_runs = Histogram(
            "switchboard_agent_run_seconds",
            "Agent run latency, by persona prompt and its version, channel, mode and outcome",
            ["prompt", "prompt_version", "channel", "mode", "outcome"],
            registry=self.registry,
            buckets=SLOW_BUCKETS,
        )
        self.agent_tokens = Counter(
            "switchboard_agent_tokens",
            "Model tokens used by agent runs",
            ["prompt", "prompt_version", "kind"],
            registry=self.registry,
        )
        self.sync_runs = Counter(
            "switchboard_sync_runs",
            "Knowledge source syncs, by source and final status",
            ["source", "status"],
            registry=self.registry,
        )
        self.sync_documents = Counter(
            "switchboard_sync_documents",
            "Documents seen by syncs, by source and outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.sync_latency = Histogram(
            "switchboard_sync_seconds",
            "Knowledge source sync duration",
            ["source"],
            registry=self.registry,
            buckets=SLOW_BUCKETS,
        )
        self.scheduler_fires = Counter(
            "switchboard_scheduler_fires",
            "Scheduler occurrences on this replica, by job kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.slack_events = Counter(
            "switchboard_slack_events",
            "Slack Events API deliveries: received (stored for answering), retried (a repeated delivery, dropped), "
            "then answered, ignored or failed",
            ["outcome"],
            registry=self.registry,
        )

        # The job queue as the database sees it (every replica's and worker's jobs), read at each scrape.
        self.jobs = Gauge(
            "switchboard_jobs", "Jobs on the queue, by kind and status", ["kind", "status"], registry=self.registry
        )
        self.jobs_stalled = Gauge(
            "switchboard_jobs_stalled",
            "Running jobs whose worker stopped sending heartbeats",
            ["kind"],
            registry=self.registry,
        )
        self.job_workers = Gauge(
            "switchboard_job_workers", "Job workers with a recent heartbeat, across replicas", registry=self.registry
        )
        self.job_latency = Gauge(
            "switchboard_job_seconds",
            "Seconds jobs finished in the last 15 minutes spent queued (phase=wait) and running (phase=run)",
            ["kind", "phase", "quantile"],
            registry=self.registry,
        )

    def observe_queue(self, counts: list[JobCount], workers: int, latencies: list[JobLatency]) -> None:
        """Replace the queue gauges with a fresh reading (kinds and statuses that vanished are dropped)."""
        for gauge in (self.jobs, self.jobs_stalled, self.job_latency):
            gauge.clear()
        for count in counts:
            self.jobs.labels(kind=count.kind, status=count.status).set(count.jobs)
            if count.status == "doing":
                self.jobs_stalled.labels(kind=count.kind).set(count.stalled)
        self.job_workers.set(workers)
        for latency in latencies:
            for phase in ("wait", "run"):
                for quantile in ("p50", "p95"):
                    value = getattr(latency, f"{phase}_{quantile}")
                    self.job_latency.labels(kind=latency.kind, phase=phase, quantile=quantile).set(value)

    def observe_run(self, record: TraceRecord, persona_prompt: str) -> None:
        """Count one finished (or paused) agent run from its trace."""
        version = record.prompt_versions.get(persona_prompt)
        labels = {"prompt": persona_prompt, "prompt_version": "none" if version is None else str(version)}
        self.agent_runs.labels(**labels, channel=record.channel, mode=record.mode, outcome=record.status).observe(
            record.total_ms / 1000
        )
        self.agent_tokens.labels(**labels, kind="input").inc(record.input_tokens)
        self.agent_tokens.labels(**labels, kind="output").inc(record.output_tokens)

    def observe_sync(self, summary: SyncSummary) -> None:
        """Count one sync run of a configured source."""
        self.sync_runs.labels(source=summary.source, status=summary.status).inc()
        for outcome in SYNC_DOCUMENT_OUTCOMES:
            self.sync_documents.labels(source=summary.source, outcome=outcome).inc(getattr(summary, outcome))
        self.sync_latency.labels(source=summary.source).observe(summary.seconds)

    def count_sync_error(self, source: str) -> None:
        """A sync that raised instead of finishing with a summary."""
        self.sync_runs.labels(source=source, status="error").inc()

    def count_fire(self, kind: str, outcome: str) -> None:
        self.scheduler_fires.labels(kind=kind, outcome=outcome).inc()

    def count_slack_event(self, outcome: str) -> None:
        self.slack_events.labels(outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
