"""Apply Alembic migrations under the schema lock, so replicas starting together do not race.

The lock is the one every layer takes for schema changes (``knowledge.advisory_locks``): migrations also never run
while a replica builds a vector index or resizes LangGraph's vector table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import migrations
from bot.errors import MigrationError
from knowledge import TRY_SCHEMA_LOCK_SQL, UNLOCK_SCHEMA_SQL, acquire_advisory_lock_blocking, sqlalchemy_url

logger = logging.getLogger(__name__)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def head_revision() -> str | None:
    """The newest revision this code knows about."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def upgrade_database(database_url: str, revision: str = "head") -> str | None:
    """Bring the schema to ``revision`` (the newest by default) and return it; a no-op when it is already there.

    Blocking (Alembic is synchronous): async callers run it in a thread.
    """
    engine = sqlalchemy.create_engine(sqlalchemy_url(database_url), poolclass=sqlalchemy.NullPool)
    try:
        # The lock lives on a connection of its own, in autocommit, so polling for it holds no snapshot.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_connection:
            acquire_advisory_lock_blocking(
                lambda: bool(lock_connection.scalar(sqlalchemy.text(TRY_SCHEMA_LOCK_SQL))),
                purpose="applying migrations",
            )
            try:
                with engine.connect() as connection:
                    before = MigrationContext.configure(connection).get_current_revision()
                    config = _alembic_config()
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
                    connection.commit()
                    after = MigrationContext.configure(connection).get_current_revision()
            finally:
                lock_connection.execute(sqlalchemy.text(UNLOCK_SCHEMA_SQL))
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise MigrationError(f"applying database migrations failed: {error}") from error
    finally:
        engine.dispose()
    if before != after:
        logger.info("database migrated from %s to %s", before or "empty", after)
    return after
