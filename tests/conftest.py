"""Shared fixtures: one embedded PostgreSQL per test session, a fresh migrated database per test module,
a scripted model server and a fake Slack Web API on loopback."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import EmbeddedPostgres, start_embedded_postgres, upgrade_database
from knowledge import TRY_SCHEMA_LOCK_SQL, create_engine, session_factory
from testing_support.databases import create_database, drop_database
from testing_support.waiting import eventually
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi


def new_home(prefix: str = "sbtest-") -> Path:
    """A fresh SWITCHBOARD_HOME under /tmp, which the ``pgserver`` OS user can reach when tests run as root."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o755)
    return home


@pytest.fixture
def home_dir() -> Path:
    return new_home("sbhome-")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres]:
    """The embedded server all tests share."""
    server = start_embedded_postgres(new_home())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database_url(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh database with every migration applied, shared by the tests of one module."""
    url = create_database(postgres_server.url)
    upgrade_database(url)
    yield url
    drop_database(postgres_server.url, url)


@pytest.fixture(scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture(scope="session")
def scripted_model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def scripted_model(scripted_model_server: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The scripted model server, emptied before each test."""
    scripted_model_server.reset()
    yield scripted_model_server
    scripted_model_server.reset()


@pytest.fixture(scope="session")
def slack_api_server() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi().start()
    yield server
    server.stop()


@pytest.fixture
def slack_api(slack_api_server: FakeSlackApi) -> Iterator[FakeSlackApi]:
    """The fake Slack Web API, with its recorded calls cleared before each test."""
    slack_api_server.reset()
    yield slack_api_server


# Other sessions of this database whose last statement was an attempt to take the schema lock.
SCHEMA_LOCK_ATTEMPTS_SQL = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND query = %s"
)


async def wait_for_schema_lock_attempt(connection: psycopg.AsyncConnection, within_seconds: float = 20) -> None:
    """Return once another session of the database has tried to take the schema lock; fail after the deadline."""

    async def attempted() -> bool:
        row = await (await connection.execute(SCHEMA_LOCK_ATTEMPTS_SQL, (TRY_SCHEMA_LOCK_SQL,))).fetchone()
        return row is not None and row[0] > 0

    await eventually(attempted, what="another session to try the schema lock", within_seconds=within_seconds)
