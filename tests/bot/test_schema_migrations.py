"""Migrations: applied by `db upgrade` against any PostgreSQL URL, safe when replicas start together."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bot import EmbeddedPostgres, head_revision, main, upgrade_database
from knowledge import SCHEMA_LOCK_KEY, TRY_SCHEMA_LOCK_SQL
from testing_support.databases import create_database, drop_database
from tests.conftest import SCHEMA_LOCK_ATTEMPTS_SQL


@pytest.fixture
def empty_database(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    url = create_database(postgres_server.url, prefix="migrate")
    yield url
    drop_database(postgres_server.url, url)


def current_revision(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def test_replicas_migrating_at_once_do_not_race(empty_database: str) -> None:
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade_database(empty_database)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert current_revision(empty_database) == head_revision()
    with psycopg.connect(empty_database) as connection:
        assert connection.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone() == (1,)


def test_db_upgrade_uses_database_url(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database)
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert f"database is at revision {head_revision()}" in capsys.readouterr().out
    assert current_revision(empty_database) == head_revision()
    # A second run is a no-op that still succeeds.
    assert main(["db", "upgrade"]) == 0


def test_unreachable_database_is_a_clear_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    assert main(["db", "upgrade"]) == 1
    assert "applying database migrations failed" in capsys.readouterr().err


def test_non_postgres_url_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/app")
    assert main(["db", "upgrade"]) == 1
    assert "must be a PostgreSQL URL" in capsys.readouterr().err


def index_definition(url: str, name: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (name,)).fetchone()
    assert row is not None, f"no index {name}"
    return str(row[0])


def test_upgrading_rebuilds_an_existing_model_index_on_half_precision_vectors(empty_database: str) -> None:
    """An install from before 0007 keeps its vectors; only its HNSW index is rebuilt, and searches can use it."""
    upgrade_database(empty_database, "0006")
    with psycopg.connect(empty_database) as connection:
        connection.execute("INSERT INTO kb_embedding_models (id, name, dimensions) VALUES (7, 'old/model', 3)")
        connection.execute(
            "CREATE INDEX kb_chunks_embedding_model_7_idx ON kb_chunks "
            "USING hnsw ((embedding::vector(3)) vector_cosine_ops) WHERE model_id = 7"
        )

    upgrade_database(empty_database)

    definition = index_definition(empty_database, "kb_chunks_embedding_model_7_idx")
    assert "halfvec(3)" in definition
    assert "halfvec_cosine_ops" in definition
    assert "WHERE (model_id = 7)" in definition


def test_migrations_wait_for_the_schema_lock_every_layer_takes(empty_database: str) -> None:
    with psycopg.connect(empty_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        migrating = threading.Thread(target=upgrade_database, args=(empty_database,))
        migrating.start()
        try:
            deadline = time.monotonic() + 20
            while holder.execute(SCHEMA_LOCK_ATTEMPTS_SQL, (TRY_SCHEMA_LOCK_SQL,)).fetchone() == (0,):
                assert time.monotonic() < deadline, "migrations never tried to take the schema lock"
                time.sleep(0.02)
            assert migrating.is_alive()
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
        migrating.join(timeout=60)
    assert current_revision(empty_database) == head_revision()


def _insert_agent_approval(connection: psycopg.Connection[Any], approval_id: str, status: str) -> None:
    connection.execute(
        "INSERT INTO agent_approvals (approval_id, thread_id, trace_id, tool_name, arguments, description, "
        "requested_by, request, status) VALUES (%s, %s, 't', 'restart_service', '{}', '', 'U1', '{}', %s)",
        (approval_id, f"slack:T1:C1:{approval_id}", status),
    )


def _insert_slack_approval(connection: psycopg.Connection[Any], approval_id: str, status: str) -> None:
    connection.execute(
        "INSERT INTO slack_approvals (approval_id, team_id, channel_id, thread_ts, message_ts, requested_by, "
        "tool_name, status) VALUES (%s, 'T1', 'C1', %s, %s, 'U1', 'restart_service', %s)",
        (approval_id, f"{approval_id}.thread", f"{approval_id}.buttons", status),
    )


def test_approvals_move_into_one_table_where_the_runtime_status_wins(empty_database: str) -> None:
    """Rows in both approval tables: each Slack message becomes its approval's surface, the runtime's status stays
    (a superseded run stays superseded though Slack still said pending), and the Slack table is gone."""
    upgrade_database(empty_database, "0013")
    with psycopg.connect(empty_database) as connection:
        _insert_agent_approval(connection, "a-approved", "approved")
        _insert_slack_approval(connection, "a-approved", "approved")
        _insert_agent_approval(connection, "a-superseded", "superseded")
        _insert_slack_approval(connection, "a-superseded", "pending")
        _insert_agent_approval(connection, "a-unshown", "pending")
        _insert_slack_approval(connection, "s-orphan", "pending")

    upgrade_database(empty_database)

    with psycopg.connect(empty_database) as connection:
        rows = connection.execute(
            "SELECT approval_id, status, surface, surface_workspace, surface_channel, surface_thread, surface_message "
            "FROM agent_approvals ORDER BY approval_id"
        ).fetchall()
        slack_table = connection.execute("SELECT to_regclass('slack_approvals')").fetchone()
    assert rows == [
        ("a-approved", "approved", "slack", "T1", "C1", "a-approved.thread", "a-approved.buttons"),
        ("a-superseded", "superseded", "slack", "T1", "C1", "a-superseded.thread", "a-superseded.buttons"),
        ("a-unshown", "pending", None, None, None, None, None),
    ]
    assert slack_table == (None,)
