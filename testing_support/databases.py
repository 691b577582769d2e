"""Scratch databases on a PostgreSQL server: one per test module or benchmark run, dropped afterwards."""

from __future__ import annotations

import uuid

import psycopg
from sqlalchemy.engine import make_url


def database_url_for(server_url: str, database: str) -> str:
    """The server's URL pointed at another database on it (the password kept)."""
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def create_database(server_url: str, prefix: str = "test") -> str:
    """A new, empty database on the shared server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return database_url_for(server_url, name)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database made by ``create_database``, closing the sessions still on it."""
    name = make_url(database_url).database
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
