"""The audit log of changes made from the chat: who, what, when, and the value before and after."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.slack.tables import AuditEntry

Sessions = async_sessionmaker[AsyncSession]


async def write_audit(
    sessions: Sessions,
    *,
    actor: str,
    action: str,
    target: str,
    before: str | None,
    after: str | None,
    channel: str | None = None,
) -> None:
    """Append one change to the audit log (``action`` like ``prompt.set``; ``target`` like the prompt's name)."""
    async with sessions.begin() as session:
        session.add(AuditEntry(actor=actor, action=action, target=target, before=before, after=after, channel=channel))


async def recent_audit(sessions: Sessions, limit: int = 50) -> list[AuditEntry]:
    async with sessions() as session:
        result = await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
        return list(result)


@dataclass(frozen=True)
class AuditTrail:
    """The audit log bound to who is acting and where, handed to command handlers by the audit middleware."""

    sessions: Sessions
    actor: str
    channel: str | None = None

    async def record(self, action: str, target: str, *, before: str | None, after: str | None) -> None:
        await write_audit(
            self.sessions,
            actor=self.actor,
            action=action,
            target=target,
            before=before,
            after=after,
            channel=self.channel,
        )
