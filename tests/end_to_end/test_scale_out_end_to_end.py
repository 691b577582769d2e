"""Scale-out: answers are jobs on the one queue, worked by real ``switchboard worker`` processes. A worker killed
with SIGKILL in the middle of an answer costs the user seconds: another worker takes the job over and the user gets
exactly one answer, in the message that already said "working on it"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing_support.slack_requests import SIGNING_SECRET
from testing_support.waiting import eventually
from tests.agents.conftest import role_of
from tests.end_to_end.conftest import VPN_PAGE, reading_model, running_switchboard
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi

# The job of a dead worker must be running again within this long of its death (the promise).
TAKEOVER_SECONDS = 30.0


class WorkerProcesses:
    """``switchboard worker`` processes on the test's database, fake Slack and scripted model."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.env = env
        self.home = home
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter running our own CLI
            [sys.executable, "-m", "bot", "worker"], env=self.env, cwd=self.home, stdout=log, stderr=log
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(
    tmp_path: Path, database_url: str, slack_api: FakeSlackApi, scripted_model: ScriptedModelServer
) -> Iterator[WorkerProcesses]:
    config = tmp_path / "switchboard.toml"
    config.write_text("", encoding="utf-8")  # no sources: the index the web side synced is in the database
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "SWITCHBOARD_HOME": str(tmp_path / "home"),
        "SWITCHBOARD_CONFIG": str(config),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api.api_url,
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": scripted_model.base_url,
        "LLM_MODEL": "scripted",
        "LLM_MAX_RETRIES": "0",
        "EMBEDDINGS_PROVIDER": "openai",
        "EMBEDDINGS_BASE_URL": scripted_model.base_url,
        "EMBEDDINGS_MODEL": "scripted",
        "LOG_FORMAT": "text",
        "SHUTDOWN_GRACE_SECONDS": "2",
    }
    processes = WorkerProcesses(env, tmp_path)
    yield processes
    processes.stop_all()


def _first_answer_hangs() -> Any:
    """The reading model, except that the first answer is never finished: its worker dies while waiting for it."""
    reading = reading_model()
    answers = 0

    def respond(body: dict[str, Any]) -> ScriptedReply:
        nonlocal answers
        if role_of(body) == "act":
            answers += 1
            if answers == 1:
                return ScriptedReply(text="never sent", delay_seconds=600, first_token_delay=600)
        return reading(body)

    return respond


async def test_a_worker_killed_mid_answer_is_replaced_and_the_user_gets_one_answer_in_the_working_message(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    database_url: str,
    wiki: Path,
    workers: WorkerProcesses,
) -> None:
    async with running_switchboard(
        slack_api, scripted_model, database_url, wiki, jobs_in_process=False, job_workers=0
    ) as switchboard:
        scripted_model.responder = _first_answer_hangs()
        first = workers.start("worker-a")
        await switchboard.mention("how do I rotate the VPN certificate?", ts="7100.1")

        def answering() -> bool:
            return any(role_of(request) == "act" for request in scripted_model.requests if "messages" in request)

        await eventually(answering, what="worker A to be in the middle of the answer", within_seconds=60)
        [working] = [c for c in slack_api.calls if c.method == "chat.postMessage" and c.status == 200]
        # A second replica's worker is up beside it, idle; then worker A's machine dies.
        workers.start("worker-b")

        async def both_alive() -> bool:
            return await switchboard.service.queue.live_workers() >= 2

        await eventually(both_alive, what="both workers to be alive", within_seconds=60)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()

        answer = await switchboard.answer_of("7100.1", within_seconds=TAKEOVER_SECONDS + 30)
        took = time.monotonic() - killed_at

    assert took < TAKEOVER_SECONDS + 15, f"the answer came {took:.1f} s after the worker died"
    # One answer, in the message that already said "working on it": no second working message, no second answer.
    posted = [c for c in slack_api.calls if c.method == "chat.postMessage" and c.status == 200]
    assert posted == [working]
    assert answer["ts"] == working.response["ts"]
    assert "nwvpn cert renew" in answer["text"]
    assert VPN_PAGE.removesuffix(".md") in str(answer["blocks"])


async def test_a_job_that_keeps_dying_stops_and_tells_the_user(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str, wiki: Path
) -> None:
    """Three workers die on the same answer: the job is given up and the user is told to ask again."""
    async with running_switchboard(
        slack_api, scripted_model, database_url, wiki, jobs_in_process=True, job_max_attempts=3
    ) as switchboard:
        queue = switchboard.service.queue
        await switchboard.mention("how do I rotate the VPN certificate?", ts="7200.1")
        await switchboard.answer_of("7200.1")
        # Replay the job as if its worker had died on its third attempt: running, under a dead worker's heartbeat.
        [job] = await queue.list_jobs(kind="slack.answer", limit=1)
        await queue.app.connector.execute_query_async(
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 minute')"
        )
        await queue.app.connector.execute_query_async(
            "UPDATE procrastinate_jobs SET status = 'doing', attempts = 2, "
            "worker_id = (SELECT max(id) FROM procrastinate_workers) WHERE id = %(id)s",
            id=job.id,
        )
        updates_before = len(slack_api.calls_to("chat.update"))

        def told() -> str | None:
            for update in slack_api.calls_to("chat.update")[updates_before:]:
                if "please ask again" in update["text"]:
                    return str(update["text"])
            return None

        text = await eventually(told, what="the user to be told the answer could not be finished")
        [after] = await queue.list_jobs(job_id=job.id)
    assert text == "I could not finish this answer; please ask again."
    assert after.status == "failed"
