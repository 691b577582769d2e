"""A Slack answer that appears as it is written: ``chat.startStream``, buffered ``chat.appendStream`` calls and
``chat.stopStream`` with the sources and feedback at the end.

Slack limits how often a message may change, so text is buffered and appended at most once per interval, never
per token. A workspace (or an older Slack) that answers ``chat.startStream`` with ``unknown_method`` or
``not_allowed`` is remembered, and its answers use the edited "working on it" message instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.markdown_rendering import markdown_for_stream

logger = logging.getLogger(__name__)

# Errors that mean this workspace cannot stream at all (not that one call failed).
STREAMING_UNSUPPORTED = frozenset({"unknown_method", "not_allowed", "not_allowed_token_type", "method_deprecated"})


@dataclass
class SlackAnswerStream:
    """One answer's stream in a thread; ``ts`` is set once Slack accepted ``chat.startStream``."""

    client: AsyncWebClient
    channel_id: str
    thread_ts: str
    team_id: str
    user_id: str
    interval_seconds: float = 1.0
    ts: str | None = None
    # The answer text (Markdown, as the agent wrote it) passed in so far, sent or still buffered.
    text: str = ""
    # Set when Slack refused to stream; the answer then goes the edited-message way.
    refused: str | None = None
    calls: int = field(default=0, init=False)
    _buffer: str = field(default="", init=False)
    _last_sent: float = field(default=0.0, init=False)

    @property
    def started(self) -> bool:
        return self.ts is not None

    async def write(self, piece: str) -> None:
        """Add a piece of the answer; sent now when the stream starts or the interval has passed, else buffered."""
        if self.refused is not None:
            return
        self.text += piece
        self._buffer += piece
        if self.ts is None:
            await self._start()
        elif time.monotonic() - self._last_sent >= self.interval_seconds:
            await self.flush()

    async def flush(self) -> None:
        if self.ts is None or not self._buffer:
            return
        pending, self._buffer = self._buffer, ""
        self._last_sent = time.monotonic()
        self.calls += 1
        await self.client.chat_appendStream(
            channel=self.channel_id, ts=self.ts, markdown_text=markdown_for_stream(pending)
        )

    async def stop(self, blocks: list[dict[str, Any]]) -> None:
        """Send what is buffered and end the stream, with ``blocks`` (sources, feedback) under the text."""
        if self.ts is None:
            return
        await self.flush()
        self.calls += 1
        await self.client.chat_stopStream(channel=self.channel_id, ts=self.ts, blocks=blocks or None)

    async def _start(self) -> None:
        pending, self._buffer = self._buffer, ""
        self._last_sent = time.monotonic()
        self.calls += 1
        try:
            response = await self.client.chat_startStream(
                channel=self.channel_id,
                thread_ts=self.thread_ts,
                recipient_team_id=self.team_id,
                recipient_user_id=self.user_id,
                markdown_text=markdown_for_stream(pending),
            )
        except SlackApiError as error:
            self.refused = str(error.response.get("error") or "error")
            if self.refused not in STREAMING_UNSUPPORTED:
                logger.warning("could not start streaming the answer (%s); it is posted whole", self.refused)
            return
        ts = response.get("ts")
        if not ts:
            self.refused = "no_ts"
            logger.warning("chat.startStream gave no message ts; the answer is posted whole")
            return
        self.ts = str(ts)
