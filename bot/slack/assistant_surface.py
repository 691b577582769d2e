"""The agent surface: the greeting and suggested prompts a conversation with the app starts with.

Two ways into a conversation exist, and both are handled:

- the app's messages tab (``agent_view`` in the manifest, Slack's default for AI apps): ``app_home_opened`` with
  ``tab == "messages"`` sets the suggested prompts for the DM (no ``thread_ts``: for an agent app Slack ignores a
  call that names one), with the greeting as their title;
- assistant threads, where a workspace still uses them: ``assistant_thread_started`` posts the greeting in the new
  thread and sets the prompts on it. ``assistant_thread_context_changed`` (the user moved to another channel with
  the thread open) changes nothing: an answer in a DM uses what the asker may read, wherever they are looking.

The greeting and the prompts are the versioned prompt ``assistant_suggested_prompts`` (first line the greeting;
each further line one suggestion, ``Title | message`` or just the message), so editors change them with
``/prompt set`` or ``/prompt edit`` like any prompt, and every change is in its history.

Questions asked there arrive as ordinary DM messages and are answered like any DM (queued as jobs before the ack).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents import PromptError, PromptStore
from bot.slack.blocks import notice_message

logger = logging.getLogger(__name__)

SUGGESTED_PROMPTS = "assistant_suggested_prompts"
# The events of the agent surface and App Home: not questions, handled by listeners (``surface_listeners``).
SURFACE_EVENTS = frozenset({"app_home_opened", "assistant_thread_started", "assistant_thread_context_changed"})
MAX_SUGGESTIONS = 4  # Slack shows at most four
TITLE_LIMIT = 75
MESSAGE_LIMIT = 500
FALLBACK_GREETING = "Hi! Ask me a question; I answer from your team's knowledge, with sources."


class SuggestedPrompt(BaseModel):
    """One suggestion: ``title`` is what the button says, ``message`` what it sends as the user's question."""

    title: str
    message: str


class Greeting(BaseModel):
    text: str
    prompts: list[SuggestedPrompt]


def parse_greeting(text: str) -> Greeting:
    """The greeting (first line) and up to four suggestions (each further line) from the prompt's text."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return Greeting(text=FALLBACK_GREETING, prompts=[])
    prompts: list[SuggestedPrompt] = []
    for line in lines[1:]:
        title, separator, message = line.partition(" | ")
        if not separator:
            title, message = line, line
        title, message = title.strip(), message.strip()
        if title and message:
            prompts.append(
                SuggestedPrompt(title=_shorten(title, TITLE_LIMIT), message=_shorten(message, MESSAGE_LIMIT))
            )
    return Greeting(text=lines[0], prompts=prompts[:MAX_SUGGESTIONS])


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class AssistantSurface:
    """Greets new conversations; each method is one event's work, run after its acknowledgement."""

    def __init__(self, client: AsyncWebClient, prompts: PromptStore) -> None:
        self.client = client
        self.prompts = prompts

    async def greeting(self) -> Greeting:
        """The live greeting; the built-in one (without suggestions) if the prompt cannot be read."""
        try:
            live = await self.prompts.get(SUGGESTED_PROMPTS)
        except PromptError as error:
            logger.warning(
                "the %s prompt could not be read (%s): greeting without suggestions", SUGGESTED_PROMPTS, error
            )
            return Greeting(text=FALLBACK_GREETING, prompts=[])
        return parse_greeting(live.text)

    async def messages_tab_opened(self, channel_id: str) -> None:
        """The user opened the app's messages tab (agent view): suggestions above the composer, greeting as title."""
        greeting = await self.greeting()
        if greeting.prompts:
            await self._suggest(channel_id, None, greeting)

    async def thread_started(self, event: dict[str, Any]) -> None:
        """A new assistant thread: the greeting in it, and the suggestions."""
        thread = event.get("assistant_thread") or {}
        channel_id, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel_id or not thread_ts:
            logger.warning("assistant_thread_started without a channel or thread: ignored")
            return
        greeting = await self.greeting()
        message = notice_message(greeting.text)
        await self.client.chat_postMessage(
            channel=channel_id, thread_ts=thread_ts, text=message.text, blocks=message.blocks
        )
        if greeting.prompts:
            await self._suggest(channel_id, thread_ts, greeting)

    async def _suggest(self, channel_id: str, thread_ts: str | None, greeting: Greeting) -> None:
        # In the messages tab nothing else greets the user, so the greeting is the suggestions' title there.
        title = _shorten(greeting.text, TITLE_LIMIT) if thread_ts is None else "Try one of these"
        try:
            await self.client.assistant_threads_setSuggestedPrompts(
                channel_id=channel_id,
                thread_ts=thread_ts,
                title=title,
                prompts=[prompt.model_dump() for prompt in greeting.prompts],
            )
        except SlackApiError as error:
            # An app without the agent features: the greeting (if posted) still says how to ask.
            logger.warning("could not set suggested prompts in %s: %s", channel_id, error.response.get("error"))
