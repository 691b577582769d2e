"""The embedded PostgreSQL: started by the service, migrated, persistent across restarts, shared within a process."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bot.service import Service
from bot.settings import Settings


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
