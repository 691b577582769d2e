"""A conversation's title in the app's messages tab (``assistant.threads.setTitle``), from its first question.

Slack lists an agent's (or assistant's) conversations by title; without one they read as dates. A workspace whose
Slack refuses the method (an app without the agent features or the ``assistant:write`` scope) is not asked again
until the service restarts; any other failure is logged and the answer goes on: a title is a nicety.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.thread_status import STATUS_UNSUPPORTED

logger = logging.getLogger(__name__)

TITLE_LIMIT = 80
_LABELLED = re.compile(r"<[^<>|]*\|([^<>]*)>")
_MARKUP = re.compile(r"<([^<>]*)>")


def thread_title(question: str) -> str:
    """A one-line title: Slack markup (mentions, links) reduced to its words, shortened at a word."""
    text = _MARKUP.sub(r"\1", _LABELLED.sub(r"\1", question))
    text = " ".join(text.split())
    if len(text) <= TITLE_LIMIT:
        return text
    cut = text[: TITLE_LIMIT - 1].rsplit(" ", 1)[0] or text[: TITLE_LIMIT - 1]
    return cut + "…"


@dataclass
class ThreadTitles:
    client: AsyncWebClient
    _refused_teams: set[str] = field(default_factory=set, init=False)

    async def name_thread(self, team_id: str, channel_id: str, thread_ts: str, question: str) -> None:
        """Title the conversation ``thread_ts`` in the DM ``channel_id`` after its first question."""
        title = thread_title(question)
        if team_id in self._refused_teams or not title:
            return
        try:
            await self.client.assistant_threads_setTitle(channel_id=channel_id, thread_ts=thread_ts, title=title)
        except SlackApiError as error:
            reason = str(error.response.get("error") or "error")
            if reason in STATUS_UNSUPPORTED:
                logger.info("Slack refused thread titles in workspace %s (%s)", team_id, reason)
                self._refused_teams.add(team_id)
            else:
                logger.warning("could not title the conversation %s in %s: %s", thread_ts, channel_id, reason)
