"""The embedded PostgreSQL: started by the service, migrated, persistent across restarts, shared within a process."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import Service, Settings
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
