"""Who is asking, and who will see the answer: the ``agents.Asker`` built from a Slack user, team and channel.

In a DM the answer may use what the asker may read; in a shared channel only what every member may read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import Asker, Channel
from bot.settings import Settings, SlackChannelSettings
from bot.slack.web_client import ChannelMembersUnavailableError, list_channel_members
from knowledge import Reader, ReaderScope, with_external_groups

logger = logging.getLogger(__name__)

MEMBERS_CACHE_SECONDS = 60.0
# A person's email rarely changes; an hour keeps a busy channel to one users.info per member an hour.
EMAIL_CACHE_SECONDS = 3600.0
# users.info is Tier 4; a channel's first question looks its members up at most this many at a time.
EMAIL_LOOKUPS_AT_ONCE = 8


def is_direct_message(channel_id: str, channel_type: str | None) -> bool:
    return channel_type == "im" or (channel_type is None and channel_id.startswith("D"))


class IdentityResolver:
    """Builds Askers; caches channel membership briefly so a busy channel costs one API call a minute.

    The one way a person becomes a reader, wherever they ask (Slack, ``switchboard ask --user``, MCP): their config
    groups, their email (when Slack is configured) and the groups synced from sources they are in.
    """

    def __init__(
        self,
        settings: Settings,
        client: AsyncWebClient | None,
        sessions: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        # With the database, readers also get their email and the groups synced from SaaS sources.
        self._sessions = sessions
        self._emails: dict[str, tuple[float, str | None]] = {}
        self._email_lookups = asyncio.Semaphore(EMAIL_LOOKUPS_AT_ONCE)
        self._members: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._member_lookups: dict[str, asyncio.Task[tuple[str, ...]]] = {}
        self._display_names: dict[str, str | None] = {}

    def channel_settings(self, channel_id: str) -> SlackChannelSettings:
        return self._settings.channels.get(channel_id) or SlackChannelSettings()

    def reader(self, user_id: str) -> Reader:
        return self._settings.reader(user_id)

    async def asker(
        self,
        *,
        user_id: str,
        team_id: str,
        channel_id: str,
        channel_type: str | None,
        bot_user_id: str | None,
    ) -> Asker:
        if is_direct_message(channel_id, channel_type):
            readers: Iterable[str] = [user_id]
        else:
            members = await self.channel_members(channel_id)
            readers = dict.fromkeys([user_id, *(member for member in members if member != bot_user_id)])
        sources = self.channel_settings(channel_id).sources
        return Asker(
            user_id=user_id,
            channel="slack",
            workspace_id=team_id,
            display_name=await self.display_name(user_id),
            scope=ReaderScope(readers=await self.readers(readers)),
            roles=self._settings.roles_of(user_id),
            sources=tuple(sources) if sources is not None else None,
            conversation_id=channel_id,
        )

    async def person(self, user_id: str, channel: Channel) -> Asker:
        """A person asking outside a Slack conversation (the CLI, MCP): they alone read the answer."""
        return Asker(
            user_id=user_id,
            channel=channel,
            scope=ReaderScope(readers=await self.readers([user_id])),
            roles=self._settings.roles_of(user_id),
        )

    async def readers(self, user_ids: Iterable[str]) -> tuple[Reader, ...]:
        """Readers with their config groups, their email (``users.info``) and the external groups they are in."""
        readers = [self.reader(user_id) for user_id in user_ids]
        if self._sessions is None:
            return tuple(readers)
        emails = await asyncio.gather(*(self.email(reader.user_id) for reader in readers))
        readers = [reader.model_copy(update={"email": email}) for reader, email in zip(readers, emails, strict=True)]
        return tuple(await with_external_groups(self._sessions, readers))

    async def email(self, user_id: str) -> str | None:
        """The user's email (scope ``users:read.email``), cached for an hour; None when Slack will not say."""
        cached = self._emails.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < EMAIL_CACHE_SECONDS:
            return cached[1]
        async with self._email_lookups:
            user = await self._user_info(user_id)
        if user is None:
            return None
        email = (user.get("profile") or {}).get("email")
        self._emails[user_id] = (time.monotonic(), email)
        return email

    async def _user_info(self, user_id: str) -> dict[str, Any] | None:
        """``users.info``'s user object; None (logged) when Slack refuses."""
        if self._client is None:
            return None
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as error:
            logger.warning("users.info for %s failed: %s", user_id, error.response.get("error"))
            return None
        user: dict[str, Any] = response.get("user") or {}
        return user

    async def display_name(self, user_id: str) -> str | None:
        """The name people see in Slack (kept for the process's life); None if Slack will not say."""
        if user_id not in self._display_names:
            user = await self._user_info(user_id)
            if user is None:
                return None
            profile = user.get("profile") or {}
            self._display_names[user_id] = profile.get("display_name") or profile.get("real_name") or user.get("name")
        return self._display_names[user_id]

    async def channel_members(self, channel_id: str) -> tuple[str, ...]:
        """Everyone in the channel; questions arriving together share one lookup, and it is reused for a minute."""
        cached = self._members.get(channel_id)
        if cached is not None and time.monotonic() - cached[0] < MEMBERS_CACHE_SECONDS:
            return cached[1]
        lookup = self._member_lookups.get(channel_id)
        if lookup is None:
            lookup = asyncio.get_running_loop().create_task(self._fetch_members(channel_id))
            self._member_lookups[channel_id] = lookup
            lookup.add_done_callback(lambda _: self._member_lookups.pop(channel_id, None))
        return await asyncio.shield(lookup)

    async def _fetch_members(self, channel_id: str) -> tuple[str, ...]:
        if self._client is None:
            raise ChannelMembersUnavailableError(channel_id, "Slack is not configured")
        found = await list_channel_members(self._client, channel_id)
        self._members[channel_id] = (time.monotonic(), found)
        return found
