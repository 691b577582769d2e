"""PostgreSQL advisory locks, taken so that no waiter ever holds a snapshot; above all the schema lock.

The schema lock is the one advisory lock every schema change takes, whichever layer makes it.

Migrations (bot), LangGraph's checkpoint and memory tables (agents) and the knowledge index's per-model vector
indexes (knowledge) all change the schema of one database, possibly from several replicas starting at once.
Holding this one lock serialises them, so two replicas never race to create, drop or alter the same object.

Locks are taken by polling ``pg_try_advisory_lock`` on an autocommit session, never by waiting inside
``pg_advisory_lock`` or holding a transaction-level lock: a session waiting inside a statement, or idle inside a
transaction, holds a snapshot, and ``CREATE INDEX CONCURRENTLY`` (run while holding the schema lock) waits for
every older snapshot to end. The waiter and the index build would deadlock (PostgreSQL aborts one of them, or,
when the wait is in the application, nobody notices). Between attempts a poller holds no snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

logger = logging.getLogger(__name__)

# Any fixed 64-bit key will do; this one spells "SWBDMIGR" so it is recognisable in pg_locks.
SCHEMA_LOCK_KEY = 0x535742444D494752
TRY_SCHEMA_LOCK_SQL = f"SELECT pg_try_advisory_lock({SCHEMA_LOCK_KEY})"
UNLOCK_SCHEMA_SQL = f"SELECT pg_advisory_unlock({SCHEMA_LOCK_KEY})"

_FIRST_RETRY_SECONDS = 0.05
_LONGEST_RETRY_SECONDS = 1.0


def _retry_delays(purpose: str) -> Iterator[float]:
    """Growing pauses between attempts; says once that another session holds the lock."""
    logger.info("waiting for a lock another session holds before %s", purpose)
    delay = _FIRST_RETRY_SECONDS
    while True:
        yield delay
        delay = min(delay * 2, _LONGEST_RETRY_SECONDS)


async def acquire_advisory_lock(try_lock: Callable[[], Awaitable[bool]], *, purpose: str) -> None:
    """Call ``try_lock`` (a ``pg_try_advisory_lock`` on some session) until it succeeds.

    ``try_lock`` must leave no transaction open (autocommit), so no snapshot is held between attempts. The lock is
    the session's until it unlocks it on the same session, or the session ends.
    """
    if await try_lock():
        return
    for delay in _retry_delays(purpose):
        await asyncio.sleep(delay)
        if await try_lock():
            return


def acquire_advisory_lock_blocking(try_lock: Callable[[], bool], *, purpose: str) -> None:
    """``acquire_advisory_lock`` for synchronous callers (Alembic runs synchronously)."""
    if try_lock():
        return
    for delay in _retry_delays(purpose):
        time.sleep(delay)
        if try_lock():
            return


@asynccontextmanager
async def holding_advisory_lock(
    connection: AsyncConnection,
    try_lock_sql: str,
    unlock_sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    purpose: str,
) -> AsyncIterator[None]:
    """Hold a session-level advisory lock on ``connection`` (an AUTOCOMMIT connection) for the block."""

    async def try_lock() -> bool:
        return bool(await connection.scalar(text(try_lock_sql), params))

    await acquire_advisory_lock(try_lock, purpose=purpose)
    try:
        yield
    finally:
        await connection.execute(text(unlock_sql), params)


def holding_schema_lock(connection: AsyncConnection, *, purpose: str) -> AbstractAsyncContextManager[None]:
    """Hold the schema lock on ``connection`` (an AUTOCOMMIT connection) for the block."""
    return holding_advisory_lock(connection, TRY_SCHEMA_LOCK_SQL, UNLOCK_SCHEMA_SQL, purpose=purpose)
