"""The Slack Web API client every part of the service posts through (answers, intake summaries, schedule results),
and the one lookup of who is in a channel, which decides what a post there may be built from."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import BotError
from bot.settings import Settings

logger = logging.getLogger(__name__)

# conversations.members returns at most 1000 ids a page; fewer pages means fewer chances to be rate limited.
MEMBERS_PAGE_SIZE = 1000


class ChannelMembersUnavailableError(BotError, RuntimeError):
    """Slack would not (fully) list a channel's members, so who would read a post there is unknown."""

    def __init__(self, channel_id: str, reason: str) -> None:
        super().__init__(
            f"Slack would not list the members of channel {channel_id} ({reason}), so it is unknown who would "
            "read the result and nothing was posted; invite the bot to the channel and check that the app has "
            "the channels:read and groups:read scopes"
        )
        self.channel_id = channel_id
        self.reason = reason


def create_slack_client(settings: Settings) -> AsyncWebClient | None:
    """A client for ``SLACK_API_URL`` that waits out 429s (honouring ``Retry-After``); None when Slack is disabled."""
    if settings.slack_bot_token is None:
        return None
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


async def list_channel_members(client: AsyncWebClient, channel_id: str) -> tuple[str, ...]:
    """Every member of ``channel_id``, page after page (slack_sdk follows ``next_cursor`` as the response is
    iterated; the client's retry handlers wait out 429s on each page).

    Raises:
        ChannelMembersUnavailableError: Slack refused a page; a partial list is never returned, because a
            reader left out would see what only the others may read.
    """
    members: list[str] = []
    try:
        async for page in await client.conversations_members(channel=channel_id, limit=MEMBERS_PAGE_SIZE):
            members.extend(str(member) for member in page.get("members") or [])
    except SlackApiError as error:
        raise ChannelMembersUnavailableError(channel_id, slack_error_code(error)) from error
    return tuple(dict.fromkeys(members))


def slack_error_code(error: SlackApiError) -> str:
    """Slack's ``error`` field (``channel_not_found``), or the HTTP status when the body was not Slack's JSON."""
    data = error.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {error.response.status_code}"


async def tell_privately(client: AsyncWebClient, channel_id: str, user_id: str, text: str, *, about: str) -> None:
    """An ephemeral note to one person; a failure is logged (``about`` names what it was for), never raised."""
    if not channel_id:
        return
    try:
        await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    except SlackApiError as error:
        logger.warning("could not tell %s about %s: %s", user_id, about, error.response.get("error"))
