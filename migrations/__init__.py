"""Alembic migrations for Switchboard's PostgreSQL schema; applied by ``switchboard db upgrade`` and ``serve``."""
