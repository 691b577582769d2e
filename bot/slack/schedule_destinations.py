"""Slack's side of where schedules post: channel-id syntax, and which ids are the owner's own DM."""

from __future__ import annotations

import re

from agents import ScheduleInputError

_SLACK_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,}")


class SlackScheduleDestinations:
    """``ScheduleDestinations`` for Slack: a channel id (``C…``, ``G…``, a DM ``D…``) or the owner's user id."""

    def check(self, channel: str, owner: str) -> None:
        if channel != owner and _SLACK_CHANNEL_ID.fullmatch(channel) is None:
            raise ScheduleInputError(
                f"{channel!r} is not a Slack channel id (C…, G… or a DM D…); pick the channel with #channel"
            )

    def is_personal(self, channel: str, owner: str) -> bool:
        """Slack DM channel ids start with ``D``; posting to the owner's user id also lands in their DM."""
        return channel.startswith("D") or channel == owner
