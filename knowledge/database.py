"""The one PostgreSQL database every layer stores in.

It lives in the lowest package because knowledge, agents and bot all keep their tables in the same database,
and imports flow bot -> agents -> tools -> knowledge: everyone above may use it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from knowledge.backend_priority import BackendPriority
from knowledge.errors import DatabaseConfigError

_PLAIN_SCHEMES = ("postgresql", "postgres")
_DRIVER = "postgresql+psycopg"


class Base(DeclarativeBase):
    """Declarative base for every table; Alembic reads its metadata."""


def sqlalchemy_url(database_url: str) -> URL:
    """Turn a plain ``postgresql://`` URL (TCP or ``?host=/socket/dir``) into one for the psycopg 3 driver.

    Users give the URL their other tools accept; the driver is Switchboard's choice, not theirs.
    """
    try:
        url = make_url(database_url)
    except Exception as error:  # SQLAlchemy raises ArgumentError, but malformed ports raise ValueError
        raise DatabaseConfigError(
            f"DATABASE_URL is not a valid URL ({error}); expected postgresql://user:password@host:5432/dbname"
        ) from error
    backend = url.get_backend_name()
    if backend not in _PLAIN_SCHEMES:
        raise DatabaseConfigError(
            f"DATABASE_URL must be a PostgreSQL URL (postgresql://...), got scheme {url.drivername!r}"
        )
    return url.set(drivername=_DRIVER)


def create_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    application_name: str = "switchboard",
    backend_priority: BackendPriority | None = None,
) -> AsyncEngine:
    """Create the async engine for ``database_url``; one per process, disposed by whoever created it.

    With ``backend_priority``, each connection's PostgreSQL backend runs at that niceness (a job worker's).
    """
    engine = create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": application_name},
    )
    if backend_priority is not None:

        def lower_backend(dbapi_connection: Any, record: Any) -> None:
            backend_priority.lower(record.driver_connection.info.backend_pid)

        event.listen(engine.sync_engine, "connect", lower_backend)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit, which async code needs."""
    return async_sessionmaker(engine, expire_on_commit=False)
