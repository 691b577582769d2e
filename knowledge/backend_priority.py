"""Run the PostgreSQL backends that serve a process's connections at that process's priority, when the server is
on this machine (the embedded one): a niced job worker's retrieval then no longer takes the CPU from ``serve``.

Why a process's own niceness is not enough: PostgreSQL starts every backend in a session of its own (``setsid``),
and Linux schedules each session as one group (autogroup, on by default) weighing as much as any other. A backend
running an answer's search weighed as much as ``serve``'s whole session, whatever the worker's niceness
(bench/RESULTS.md, "Slack acknowledgements"). So each connection's backend gets the niceness, and its session group
the same niceness.

Only a process that is verifiably a backend of a PostgreSQL on this machine is touched: its parent must be a
postmaster whose data directory's ``postmaster.pid`` names that parent. A remote server (the pid means nothing
here), a server in another container or one owned by another user (unreadable) is left alone; that is logged once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

_PROC = Path("/proc")


class BackendPriority:
    """Gives each backend handed to ``lower`` the niceness ``niceness``; with 0 it does nothing."""

    def __init__(self, niceness: int) -> None:
        self.niceness = max(0, min(niceness, 19))
        self._reported = False

    def lower(self, backend_pid: int) -> bool:
        """Whether ``backend_pid`` was lowered: False when it is not a local backend we may change."""
        if self.niceness == 0:
            return False
        try:
            if not _is_local_backend(backend_pid):
                self._report(backend_pid, "it is not a backend of a PostgreSQL on this machine")
                return False
            if os.getpriority(os.PRIO_PROCESS, backend_pid) < self.niceness:
                os.setpriority(os.PRIO_PROCESS, backend_pid, self.niceness)
            autogroup = _PROC / str(backend_pid) / "autogroup"
            if autogroup.exists():
                autogroup.write_text(str(self.niceness), encoding="ascii")
        except OSError as error:  # gone meanwhile, or not ours to change: it keeps its priority
            self._report(backend_pid, str(error))
            return False
        return True

    async def configure(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """A ``psycopg_pool`` ``configure`` hook: each new connection's backend is lowered."""
        self.lower(connection.info.backend_pid)

    def _report(self, backend_pid: int, why: str) -> None:
        if not self._reported:
            self._reported = True
            logger.info("PostgreSQL backends keep their priority (backend %d: %s)", backend_pid, why)


def _is_local_backend(pid: int) -> bool:
    """``pid`` is a child of a postmaster that its own data directory names (readable only if it is ours)."""
    status = (_PROC / str(pid) / "status").read_text(encoding="utf-8", errors="replace")
    parent = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
    if not parent.isdigit():
        return False
    lock_file = _PROC / parent / "cwd" / "postmaster.pid"
    if not lock_file.is_file():
        return False
    return lock_file.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip() == parent
