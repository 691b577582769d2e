"""Operating Switchboard as ``serve`` runs it: /healthz reports whether Slack and the model can be reached (from
background checks, never slowing the endpoint), and /metrics counts answers, syncs, scheduler fires and Slack
events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.scheduling.cluster_scheduler import system_job_key
from testing_support.waiting import eventually
from tests.bot.slack_runtime_harness import RuntimeSlack
from tests.end_to_end.conftest import running_switchboard
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi

FAST_CHECKS = {"health_check_interval_seconds": 0.05, "health_check_timeout_seconds": 2.0}


async def _health_when(switchboard: RuntimeSlack, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The /healthz report once ``condition`` holds (the background checks run every 50 ms)."""

    async def report_if_there() -> dict[str, Any] | None:
        response = await switchboard.http.get("/healthz")
        report: dict[str, Any] = response.json()
        report["http_status"] = response.status_code
        return report if condition(report) else None

    report = await eventually(report_if_there, what="/healthz to report the expected state", within_seconds=15)
    assert report is not None
    return report


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (sample, got), value in samples.items() if sample == name and wanted <= got)


async def test_slack_down_is_reported_unreachable_and_the_service_degraded(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str, wiki: Path
) -> None:
    async with running_switchboard(slack_api, scripted_model, database_url, wiki, **FAST_CHECKS) as switchboard:
        healthy = await _health_when(switchboard, lambda r: r["slack"] == "ok" and r["model"] == "ok")
        assert healthy["status"] == "ok" and healthy["database"] == "ok" and healthy["reasons"] == {}

        slack_api.fail("auth.test", times=1_000_000)  # Slack answers every call with HTTP 500 from now on
        down = await _health_when(switchboard, lambda r: r["slack"] == "unreachable")
        assert down["status"] == "degraded"
        assert down["http_status"] == 200  # only a database outage makes /healthz answer 503
        assert down["model"] == "ok" and down["database"] == "ok"
        assert "internal_error" in down["reasons"]["slack"]

        slack_api.fail("auth.test", times=0)
        back = await _health_when(switchboard, lambda r: r["slack"] == "ok")
        assert back["status"] == "ok"


async def test_metrics_count_an_answer_a_sync_a_scheduler_fire_and_slack_events(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str, wiki: Path
) -> None:
    # Starting syncs the wiki once (four pages; the module's database may have them already); the answer, the fire
    # (a second sync) and the events follow.
    only_explicit_syncs = {"sync_overdue_on_start": False}
    async with running_switchboard(slack_api, scripted_model, database_url, wiki, **only_explicit_syncs) as switchboard:
        question = {"type": "app_mention", "user": "U1", "text": "<@UBOT> How do I rotate the VPN certificate?"}
        question |= {"ts": "400.000001", "channel": "C1"}
        event_id = "EvOps0000001"
        assert (await switchboard.event(question, event_id=event_id)).status_code == 200
        await switchboard.answer_of("400.000001")
        retried = await switchboard.event(question, event_id=event_id, **{"X-Slack-Retry-Num": "1"})
        assert retried.status_code == 200
        scheduler = switchboard.service.scheduler
        assert scheduler is not None
        await eventually(scheduler.check_leadership, what="this replica to become the scheduler's leader")
        fired = await scheduler.fire(system_job_key("sync:wiki"), datetime.now(UTC), trigger="manual")
        await switchboard.settle()  # the answer's event is marked finished, then counted
        response = await switchboard.http.get("/metrics")

    assert fired == "queued"
    samples = _samples(response.text)
    run = {"prompt": "answer", "channel": "slack", "mode": "agent", "outcome": "done"}
    assert _value(samples, "switchboard_agent_run_seconds_count", **run) == 1
    assert _value(samples, "switchboard_agent_tokens_total", prompt="answer", kind="input") > 0
    assert _value(samples, "switchboard_agent_tokens_total", prompt="answer", kind="output") > 0
    assert _value(samples, "switchboard_sync_runs_total", source="wiki", status="succeeded") == 2
    seen = [
        _value(samples, "switchboard_sync_documents_total", source="wiki", outcome=o) for o in ("added", "unchanged")
    ]
    assert sum(seen) == 8 and seen[1] >= 4  # each sync saw the four pages; the second found them unchanged
    assert _value(samples, "switchboard_sync_documents_total", source="wiki", outcome="failed") == 0
    assert _value(samples, "switchboard_sync_seconds_count", source="wiki") == 2
    assert _value(samples, "switchboard_scheduler_fires_total", kind="system", outcome="queued") == 1
    assert _value(samples, "switchboard_slack_events_total", outcome="received") == 1
    assert _value(samples, "switchboard_slack_events_total", outcome="retried") == 1
    assert _value(samples, "switchboard_slack_events_total", outcome="answered") == 1
    assert _value(samples, "switchboard_slack_events_total", outcome="failed") == 0
    # Bounded labels: no user ids, channel ids or question text anywhere in the exposition.
    for unbounded in ("U1", "C1", "VPN certificate"):
        assert unbounded not in response.text
