"""``switchboard jobs list|retry``: an operator sees what is on the queue and puts a failed job back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psycopg
import pytest

from bot.cli.entry_point import main
from bot.jobs import JobKind, JobQueue, SlackAnswerJob


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:
    config = tmp_path / "switchboard.toml"
    config.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLM_PROVIDER", "none")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return database_url


def _queue_one(database_url: str, event_id: str) -> int:
    async def run() -> int:
        queue = JobQueue(database_url)
        await queue.open()
        try:
            return await queue.defer(JobKind.SLACK_ANSWER, SlackAnswerJob(event_id=event_id, body={}))
        finally:
            await queue.aclose()

    return asyncio.run(run())


def test_a_failed_job_is_listed_and_retried_and_a_queued_one_is_not_retried(
    environment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = _queue_one(environment, "EvFAILED")
    queued = _queue_one(environment, "EvQUEUED")
    with psycopg.connect(environment, autocommit=True) as connection:
        connection.execute("UPDATE procrastinate_jobs SET status = 'failed', attempts = 3 WHERE id = %s", [failed])

    assert main(["jobs", "list", "--status", "failed", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["kind"], listed["status"], listed["runs"]) == (failed, "slack.answer", "failed", 3)

    assert main(["jobs", "list"]) == 0
    table = capsys.readouterr().out
    assert f"{queued:>8}  slack.answer" in table and "todo" in table and "failed" in table

    assert main(["jobs", "retry", str(failed)]) == 0
    assert f"job {failed} (slack.answer) is queued again" in capsys.readouterr().out
    assert main(["jobs", "list", "--status", "todo", "--json"]) == 0
    assert {job["id"] for job in json.loads(capsys.readouterr().out)} == {failed, queued}

    # A job already on its way cannot be retried; an unknown id says how to find the real ones.
    assert main(["jobs", "retry", str(queued)]) == 1
    assert "only a failed or stalled job can be retried" in capsys.readouterr().err
    assert main(["jobs", "retry", "999999"]) == 1
    assert "switchboard jobs list" in capsys.readouterr().err
