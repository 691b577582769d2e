"""Leader election across replicas with a PostgreSQL advisory lock held on a dedicated connection.

The lock lives as long as the connection: when a leader process dies (or its connection drops), PostgreSQL
releases the lock and the next follower to poll takes over. The queue (``JobQueue.defer_occurrence``, once per job and
fire time) covers the moment in between, when a dying leader has not yet noticed it lost the lock.
"""

from __future__ import annotations

import logging

import psycopg

logger = logging.getLogger(__name__)

# Any fixed 64-bit key will do; this one spells "SWBDSCHD" so it is recognisable in pg_locks.
SCHEDULER_LOCK_KEY = 0x5357424453434844


def scheduler_application_name(instance: str) -> str:
    """The ``application_name`` of an instance's lock connection, so operators can find it in pg_stat_activity."""
    return f"switchboard-scheduler:{instance}"[:63]


class AdvisoryLockLeader:
    """Holds (or keeps trying to take) the scheduler's advisory lock; ``is_leader`` says whether it does."""

    def __init__(self, database_url: str, instance: str, *, lock_key: int = SCHEDULER_LOCK_KEY) -> None:
        self._database_url = database_url
        self._instance = instance
        self._lock_key = lock_key
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self.is_leader = False

    async def check(self) -> bool:
        """Verify a held lock is still ours, or try to take it; never raises for a lost or unreachable database."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = await psycopg.AsyncConnection.connect(
                    self._database_url,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=scheduler_application_name(self._instance),
                )
            if self.is_leader:
                # A dead connection means PostgreSQL already released the lock.
                await self._connection.execute("SELECT 1")
            else:
                cursor = await self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,))
                row = await cursor.fetchone()
                self.is_leader = bool(row and row[0])
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as error:
            if self.is_leader:
                logger.warning("scheduler %s lost leadership: lock connection failed (%s)", self._instance, error)
            else:
                logger.warning("scheduler %s cannot reach the database to elect a leader: %s", self._instance, error)
            self.is_leader = False
            await self._close()
        return self.is_leader

    async def release(self) -> None:
        """Give the lock up (closing the connection releases it), so a follower takes over at once."""
        self.is_leader = False
        await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed:
            try:
                await connection.close()
            except (psycopg.Error, OSError) as error:
                logger.debug("closing the scheduler lock connection failed: %s", error)
