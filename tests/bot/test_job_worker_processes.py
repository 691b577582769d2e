"""The worker processes ``serve`` starts: they run below its priority (so on a busy machine the acknowledging
process gets the CPU first), and one that dies is started again."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bot.composition.job_work import WORKER_NICENESS, WorkerProcesses
from testing_support.waiting import eventually


async def test_serve_s_workers_run_at_lower_priority_and_one_killed_is_started_again(
    database_url: str, home_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [key for key in os.environ if key.startswith(("SLACK_", "LLM_"))]:
        monkeypatch.delenv(name)
    config = tmp_path / "switchboard.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_HOME", str(home_dir))
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    supervisor = WorkerProcesses(1, grace_seconds=2)
    supervisor.start()
    try:
        [first] = await eventually(lambda: supervisor.pids, what="the worker process to start")
        expected = min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19)
        assert os.getpriority(os.PRIO_PROCESS, first) == expected
        # In serve's session (one scheduling group, where the niceness counts), in a process group of its own.
        assert os.getsid(first) == os.getsid(0)
        assert os.getpgid(first) == first
        os.kill(first, signal.SIGKILL)
        [second] = await eventually(
            lambda: [pid for pid in supervisor.pids if pid != first], what="a new worker process", within_seconds=30
        )
        assert os.getpriority(os.PRIO_PROCESS, second) == expected
    finally:
        await supervisor.stop()
    assert supervisor.pids == []
