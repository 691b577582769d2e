"""Bearer tokens for MCP clients: issued per person by an admin, stored hashed, revocable, with an expiry.

A token is 32 random bytes, so a plain SHA-256 of it is enough to store (nobody can guess one to match a hash);
only the hash and the token's id are kept, and the token itself is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import DateTime, String, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from bot.errors import BotError
from knowledge import Base

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "sbmcp_"  # noqa: S105 - marks the kind of token; the secret part is random


class McpTokenRow(Base):
    """One issued token: whose it is, its hash, and when it stops being accepted."""

    __tablename__ = "mcp_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IssuedToken(BaseModel):
    token_id: str
    user_id: str
    expires_at: datetime
    # The bearer token itself: shown once to the admin who created it, never stored.
    token: str


class TokenHolder(BaseModel):
    """Whom a valid token speaks for."""

    token_id: str
    user_id: str
    expires_at: datetime


class McpTokenNotFoundError(BotError, LookupError):
    """No token has that id."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class McpTokenStore:
    """Creates, revokes and checks MCP bearer tokens."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, user_id: str, *, valid_days: int) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = "tok_" + secrets.token_hex(6)
        expires_at = datetime.now(UTC) + timedelta(days=valid_days)
        async with self._sessions.begin() as session:
            session.add(
                McpTokenRow(token_id=token_id, user_id=user_id, token_hash=token_hash(token), expires_at=expires_at)
            )
        logger.info("MCP token %s issued for %s (expires %s)", token_id, user_id, expires_at.date())
        return IssuedToken(token_id=token_id, user_id=user_id, expires_at=expires_at, token=token)

    async def revoke(self, token_id: str) -> TokenHolder:
        """Refuse the token from now on (revoking twice keeps the first time).

        Raises:
            McpTokenNotFoundError: no token has this id.
        """
        async with self._sessions.begin() as session:
            row = await session.get(McpTokenRow, token_id)
            if row is None:
                raise McpTokenNotFoundError(
                    f"no MCP token has the id {token_id!r}; the id is printed by `switchboard tokens create`"
                )
            await session.execute(
                update(McpTokenRow)
                .where(McpTokenRow.token_id == token_id, McpTokenRow.revoked_at.is_(None))
                .values(revoked_at=func.now())
            )
            holder = TokenHolder(token_id=row.token_id, user_id=row.user_id, expires_at=row.expires_at)
        logger.info("MCP token %s of %s revoked", token_id, holder.user_id)
        return holder

    async def holder(self, token: str) -> TokenHolder | None:
        """The token's holder if it is known, not revoked and not expired; None otherwise."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        async with self._sessions() as session:
            row = await session.scalar(
                select(McpTokenRow).where(
                    McpTokenRow.token_hash == token_hash(token),
                    McpTokenRow.revoked_at.is_(None),
                    McpTokenRow.expires_at > func.now(),
                )
            )
        if row is None:
            return None
        return TokenHolder(token_id=row.token_id, user_id=row.user_id, expires_at=row.expires_at)
