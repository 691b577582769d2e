"""Prometheus metrics for one service instance, in its own registry (no process-wide singletons)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot import __version__


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

    def render(self) -> bytes:
        return generate_latest(self.registry)
