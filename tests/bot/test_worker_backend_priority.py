"""A job worker's PostgreSQL backends run at the worker's niceness, in every pool it opens, so an answer's search on
the embedded server does not take the CPU from the process acknowledging Slack; nothing else is ever touched."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text

from bot.composition.service import Service
from bot.settings import Settings
from knowledge import BackendPriority


def _niceness(pid: int) -> tuple[int, str]:
    """The process's niceness and its session group's (``/proc/PID/autogroup``: "/autogroup-N nice K").

    A process in the machine's first session (pid 1's, as under a container's init or a CI runner) is in no session
    group: the kernel prints nothing for it, and that reads here as "none"."""
    autogroup = Path(f"/proc/{pid}/autogroup").read_text(encoding="ascii").split()
    return os.getpriority(os.PRIO_PROCESS, pid), autogroup[-1] if autogroup else "none"


async def test_every_pool_of_a_worker_service_lowers_its_backends(database_url: str) -> None:
    niceness = min(os.getpriority(os.PRIO_PROCESS, 0) + 7, 19)
    service = await Service.start(
        Settings(database_url=database_url, llm_provider="none"), migrate=False, backend_niceness=niceness
    )
    try:
        async with service.engine.connect() as connection:
            engine_backend = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert service.agent_persistence is not None
        async with service.agent_persistence.pool.connection() as connection:
            row = await (await connection.execute("SELECT pg_backend_pid() AS pid")).fetchone()
            checkpoint_backend = row["pid"]
        queue_backend = (await service.queue.app.connector.execute_query_one_async("SELECT pg_backend_pid() AS pid"))[
            "pid"
        ]
        for backend in (engine_backend, checkpoint_backend, queue_backend):
            assert _niceness(backend) == (niceness, str(niceness)), backend
    finally:
        await service.aclose()


async def test_a_service_that_is_not_a_worker_leaves_its_backends_alone(database_url: str) -> None:
    service = await Service.start(Settings(database_url=database_url, llm_provider="none"), migrate=False)
    try:
        async with service.engine.connect() as connection:
            backend = await connection.scalar(text("SELECT pg_backend_pid()"))
        # As PostgreSQL started it: the niceness of the process that started the server (this one), group nice 0.
        assert _niceness(backend) == (os.getpriority(os.PRIO_PROCESS, 0), "0")
    finally:
        await service.aclose()


async def test_a_process_that_is_not_a_postgresql_backend_is_never_changed() -> None:
    other = await asyncio.create_subprocess_exec("sleep", "30")
    try:
        before = _niceness(other.pid), _niceness(os.getpid())
        priority = BackendPriority(19)
        assert priority.lower(other.pid) is False
        assert priority.lower(os.getpid()) is False
        assert (_niceness(other.pid), _niceness(os.getpid())) == before
    finally:
        other.kill()
        await other.wait()
