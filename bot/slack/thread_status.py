"""The status line Slack shows under a thread while the agent works (``assistant.threads.setStatus``): "Searching
the knowledge base…", "Reading 3 sources…", "Checking the draft against its sources…".

It replaces the "working on it" message wherever Slack allows it: in assistant and agent threads, and (since the
method accepts ``chat:write``) in channel threads. A workspace whose Slack refuses the method is remembered by the
caller, and its answers show progress in the edited "working on it" message as before. Slack removes a status by
itself when the app posts in the thread (or after two minutes); the answer clears it explicitly too.

Progress events can come faster than Slack wants a status changed, so a change is sent at most once per interval
and only when the text differs (a change that came too soon is sent when the interval is up, unless a newer one
replaced it); the first status goes out at once, so the asker sees it within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents import ProgressEvent

logger = logging.getLogger(__name__)

# Errors that mean this workspace (its Slack, or the app's scopes) cannot show a status at all.
STATUS_UNSUPPORTED = frozenset(
    {
        "unknown_method",
        "not_allowed",
        "not_allowed_token_type",
        "method_deprecated",
        "missing_scope",
        "channel_type_not_supported",
    }
)
STATUS_LIMIT = 100
FIRST_STATUS = "Reading your question…"


def status_text(event: ProgressEvent) -> str:
    """What the status line says at a stage of the agent's work (plain text: Slack shows it as it is)."""
    if event.stage == "planning":
        text = "Planning the answer…"
    elif event.stage == "searching":
        text = "Searching the knowledge base…"
    elif event.stage == "using_tool":
        text = f"Using {event.detail}…" if event.detail else "Using a tool…"
    elif event.stage == "reflecting":
        text = "Checking the draft against its sources…" if event.sources else "Checking the draft…"
    elif event.sources:
        text = f"Reading {event.sources} source{'s' if event.sources != 1 else ''}…"
    else:
        text = "Writing the answer…"
    return text if len(text) <= STATUS_LIMIT else text[: STATUS_LIMIT - 1] + "…"


@dataclass
class ThreadStatus:
    """The status line of one answer's thread."""

    client: AsyncWebClient
    channel_id: str
    thread_ts: str
    interval_seconds: float = 1.0
    # Slack's error when it refused the status; the answer then shows progress in a message instead.
    refused: str | None = None
    shown: str = ""
    calls: int = field(default=0, init=False)
    _last_sent: float = field(default=0.0, init=False)
    _pending: str | None = field(default=None, init=False)
    _later: asyncio.Task[None] | None = field(default=None, init=False)
    _frozen: bool = field(default=False, init=False)

    async def show(self, text: str, *, at_once: bool = False) -> bool:
        """Show ``text`` (now if ``at_once`` or the interval has passed, else skipped: a later event catches up).

        False when Slack refused the status, this time or before.
        """
        if self.refused is not None:
            return False
        if self._frozen:
            return True
        self._pending = text
        if text == self.shown:
            return True
        wait = self.interval_seconds - (time.monotonic() - self._last_sent)
        if not at_once and wait > 0:
            if self._later is None or self._later.done():
                self._later = asyncio.get_running_loop().create_task(self._send_later(wait))
            return True
        return await self._send(text)

    async def _send(self, text: str) -> bool:
        try:
            await self._set(text)
        except SlackApiError as error:
            self.refused = str(error.response.get("error") or "error")
            if self.refused not in STATUS_UNSUPPORTED:
                logger.warning("could not set the thread status (%s); showing progress in a message", self.refused)
            return False
        self.shown = text
        return True

    async def _send_later(self, wait: float) -> None:
        """The latest status that came too soon after the last one, once the interval is up."""
        await asyncio.sleep(wait)
        if self._pending is None or self._pending == self.shown or self.refused is not None:
            return
        try:
            await self._send(self._pending)
        except Exception:  # nobody awaits this task: a lost status change is logged, the answer goes on
            logger.warning("could not update the thread status", exc_info=True)

    async def on_progress(self, event: ProgressEvent) -> None:
        await self.show(status_text(event))

    def freeze(self) -> None:
        """The answer has started to appear: later progress (and a change still held) is no longer shown."""
        self._frozen = True
        self._pending = None
        if self._later is not None:
            self._later.cancel()

    async def clear(self) -> None:
        """Remove the status (the answer is there); a failure is only logged: Slack drops it within minutes."""
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._later
        self._pending = None
        if self.refused is not None or not self.shown:
            return
        try:
            await self._set("")
        except SlackApiError as error:
            logger.warning("could not clear the thread status: %s", error.response.get("error"))
        self.shown = ""

    async def _set(self, text: str) -> None:
        self._last_sent = time.monotonic()
        self.calls += 1
        await self.client.assistant_threads_setStatus(channel_id=self.channel_id, thread_ts=self.thread_ts, status=text)
