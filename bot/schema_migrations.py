"""Apply Alembic migrations under a PostgreSQL advisory lock, so replicas starting together do not race."""

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
from knowledge import sqlalchemy_url

logger = logging.getLogger(__name__)

# Any fixed 64-bit key will do; this one spells "SWBDMIGR" so it is recognisable in pg_locks.
MIGRATION_LOCK_KEY = 0x535742444D494752


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
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            try:
                before = MigrationContext.configure(connection).get_current_revision()
                config = _alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
                after = MigrationContext.configure(connection).get_current_revision()
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise MigrationError(f"applying database migrations failed: {error}") from error
    finally:
        engine.dispose()
    if before != after:
        logger.info("database migrated from %s to %s", before or "empty", after)
    return after
