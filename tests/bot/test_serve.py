"""`switchboard serve`: health and metrics over HTTP, database outages reported, clean stop on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot import EmbeddedPostgres, Service, Settings, create_app, start_embedded_postgres
from tests.fakes.http_server import free_port


def wait_for_health(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early with {process.returncode}: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            return httpx.get(url + "/healthz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not answer /healthz in time")


def test_serve_on_embedded_defaults_answers_health_and_stops_on_sigterm(tmp_path: Path, home_dir: Path) -> None:
    home = home_dir
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LLM_", "DATABASE_URL"))}
    environment.update(SWITCHBOARD_HOME=str(home), LOG_FORMAT="json")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for_health(base, process)
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok",
            "database": "ok",
            "slack": "disabled",
            "model": "disabled",
            "scheduler": "leader",
            # Nothing to answer without Slack, so no worker process is started and the queue is empty.
            "jobs": {"queued": 0, "running": 0, "stalled": 0, "failed": 0, "workers": 0},
            "reasons": {},
            "mcp_servers": {},
        }
        metrics = httpx.get(base + "/metrics", timeout=5)
        assert 'switchboard_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in metrics.text
        assert health.headers["x-request-id"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    log = stderr.decode()
    assert "service stopped" in log
    assert '"run_id"' in log  # JSON lines, each with its run id
    # What start-up built is out of the collector's way before the first request (no full-collection stalls).
    frozen = re.search(r"start-up objects frozen out of garbage collection: (\d+)", log)
    assert frozen is not None and int(frozen.group(1)) > 100_000
    assert not (home / "postgres" / "postmaster.pid").exists()  # the embedded server was stopped too


def test_serve_with_the_embedded_database_off_refuses_to_start_without_database_url(tmp_path: Path) -> None:
    """As in the container image: EMBEDDED_POSTGRES=false and no DATABASE_URL is a clear refusal, not a database
    quietly made in the container's throwaway folder."""
    home = tmp_path / "home"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LLM_", "DATABASE_URL"))}
    environment.update(SWITCHBOARD_HOME=str(home), EMBEDDED_POSTGRES="false")
    finished = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert "DATABASE_URL is required: the embedded PostgreSQL is turned off" in finished.stderr.decode()
    assert not home.exists()


@pytest.fixture
async def outage_service(home_dir: Path) -> AsyncIterator[tuple[Service, EmbeddedPostgres]]:
    """A service on its own PostgreSQL, which the test can stop under it."""
    server = start_embedded_postgres(home_dir)
    service = await Service.start(Settings(database_url=server.url))
    yield service, server
    await service.aclose()


async def test_health_reports_the_database_down_with_503(outage_service: tuple[Service, EmbeddedPostgres]) -> None:
    service, server = outage_service
    app = create_app(service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://switchboard") as client:
        healthy = await client.get("/healthz")
        assert healthy.status_code == 200 and healthy.json()["database"] == "ok"
        server.stop()
        down = await client.get("/healthz")
        assert down.status_code == 503
        assert down.json()["status"] == "degraded" and down.json()["database"] == "down"
        metrics = await client.get("/metrics")
        assert "switchboard_database_up 0.0" in metrics.text


def test_sigterm_during_start_still_stops_the_embedded_database(tmp_path: Path, home_dir: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LLM_", "DATABASE_URL"))}
    environment.update(SWITCHBOARD_HOME=str(home_dir))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pid_file = home_dir / "postgres" / "postmaster.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # while migrations run or the server binds
    process.communicate(timeout=60)
    assert process.returncode == 0
    assert not pid_file.exists()
