"""A Slack answer that appears as it is written: ``chat.startStream``, buffered ``chat.appendStream`` calls and
``chat.stopStream`` with the sources and feedback at the end.

Slack limits how often a message may change, so text is buffered and appended at most once per interval, never
per token. Slack's rate limits are per method per workspace (``chat.appendStream`` is Tier 4: about 100 calls a
minute), not per message, so the interval also stretches with the number of answers streaming at once in the
workspace (``StreamBudget``): under a burst of 50 questions each stream appends every 30 s instead of every second,
and together they stay within the limit. A workspace (or an older Slack) that answers ``chat.startStream`` with
``unknown_method`` or ``not_allowed`` is remembered, and its answers use the edited "working on it" message instead.
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
class StreamBudget:
    """The workspace-wide ``chat.appendStream`` budget shared by the answers streaming in this process."""

    calls_per_minute: float = 100.0
    _open: dict[str, int] = field(default_factory=dict, init=False)

    def opened(self, team_id: str) -> None:
        self._open[team_id] = self._open.get(team_id, 0) + 1

    def closed(self, team_id: str) -> None:
        self._open[team_id] = max(self._open.get(team_id, 0) - 1, 0)

    def streaming(self, team_id: str) -> int:
        return self._open.get(team_id, 0)

    def interval(self, team_id: str, at_least: float) -> float:
        """Seconds between one stream's appends so that all of the workspace's streams stay within the budget."""
        return max(at_least, self.streaming(team_id) * 60.0 / self.calls_per_minute)


@dataclass
class SlackAnswerStream:
    """One answer's stream in a thread; ``ts`` is set once Slack accepted ``chat.startStream``."""

    client: AsyncWebClient
    channel_id: str
    thread_ts: str
    team_id: str
    user_id: str
    interval_seconds: float = 1.0
    budget: StreamBudget | None = None
    ts: str | None = None
    # The answer text (Markdown, as the agent wrote it) passed in so far, sent or still buffered.
    text: str = ""
    # Set when Slack refused to stream; the answer then goes the edited-message way.
    refused: str | None = None
    calls: int = field(default=0, init=False)
    _buffer: str = field(default="", init=False)
    _last_sent: float = field(default=0.0, init=False)
    _counted: bool = field(default=False, init=False)

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
        elif time.monotonic() - self._last_sent >= self._interval():
            await self.flush()

    def _interval(self) -> float:
        if self.budget is None:
            return self.interval_seconds
        return self.budget.interval(self.team_id, self.interval_seconds)

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
        try:
            await self.flush()
            self.calls += 1
            await self.client.chat_stopStream(channel=self.channel_id, ts=self.ts, blocks=blocks or None)
        finally:
            self.release()

    def release(self) -> None:
        """Give back this stream's share of the workspace budget (once; stopping does it)."""
        if self._counted and self.budget is not None:
            self.budget.closed(self.team_id)
        self._counted = False

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
        if self.budget is not None:
            self.budget.opened(self.team_id)
            self._counted = True
