"""One run at a time per conversation thread across every replica, through lease rows in PostgreSQL.

Two replicas answering in one thread at once would both continue from the same checkpoint and one turn would be
lost from the thread's memory. An advisory lock would pin a database connection for the whole run (a minute or
more, per busy thread); a lease row costs a few short statements per run instead. The holder renews its lease
while the run lasts, so the lease itself can be short: a replica that dies holding one delays that thread only
until it runs out (seconds), and the retried job continues the run from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import DateTime, String, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from knowledge import Base

logger = logging.getLogger(__name__)


class ThreadLeaseRow(Base):
    """Who is running a turn in a thread, and until when the lease holds if that replica dies."""

    __tablename__ = "agent_thread_leases"

    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


_ACQUIRE = text(
    """
    INSERT INTO agent_thread_leases (thread_id, token, expires_at)
    VALUES (:thread_id, :token, now() + make_interval(secs => :seconds))
    ON CONFLICT (thread_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
        WHERE agent_thread_leases.expires_at < now()
    RETURNING token
    """
)
_RENEW = text(
    """
    UPDATE agent_thread_leases SET expires_at = now() + make_interval(secs => :seconds)
    WHERE thread_id = :thread_id AND token = :token
    """
)
_RELEASE = text("DELETE FROM agent_thread_leases WHERE thread_id = :thread_id AND token = :token")


class ThreadLeases:
    """Leases on conversation threads; ``hold`` waits while another replica runs a turn in the thread."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float,
        poll_seconds: float = 0.05,
        max_poll_seconds: float = 1.0,
    ) -> None:
        """``lease_seconds`` is how long a lease outlives its holder; it is renewed every third of that."""
        self._sessions = sessions
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._max_poll_seconds = max_poll_seconds

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        token = uuid.uuid4().hex
        delay = self._poll_seconds
        waited = False
        while not await self._try_acquire(thread_id, token):
            if not waited:
                logger.info("thread %s is busy on another replica; waiting for its turn to finish", thread_id)
                waited = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_poll_seconds)
        renewal = asyncio.get_running_loop().create_task(self._renew_forever(thread_id, token))
        try:
            yield
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            # Shielded: a cancelled run must still give the thread back rather than leave it until expiry.
            await asyncio.shield(self._release(thread_id, token))

    async def _renew_forever(self, thread_id: str, token: str) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            try:
                async with self._sessions.begin() as session:
                    await session.execute(
                        _RENEW, {"thread_id": thread_id, "token": token, "seconds": self._lease_seconds}
                    )
            except Exception:  # the next renewal tries again; the lease lasts three intervals
                logger.warning("renewing the lease on thread %s failed", thread_id, exc_info=True)

    async def _try_acquire(self, thread_id: str, token: str) -> bool:
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    _ACQUIRE, {"thread_id": thread_id, "token": token, "seconds": self._lease_seconds}
                )
            ).first()
        return row is not None and row[0] == token

    async def _release(self, thread_id: str, token: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(_RELEASE, {"thread_id": thread_id, "token": token})
