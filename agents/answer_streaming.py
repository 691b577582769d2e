"""The final answer's text as the model writes it, for channels that show it arriving (Slack's streaming).

Reflection may send a draft back, and text a person has already seen cannot be taken back. So a model turn is
passed on live only when nothing can reject it any more: reflection is off, or this is the last revision it
allows. Any other draft is held back while it is checked, and released whole once it is the answer. Either way
the text passed on is the answer's own, citations already numbered as in ``AgentAnswer.text``.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.answer_parsing import CitationRenumbering
from agents.answers import AnswerTextCallback

logger = logging.getLogger(__name__)


class AnswerTextStream:
    """One run's answer text on its way to ``send``; remembers what was sent so nothing is sent twice."""

    def __init__(self, send: AnswerTextCallback) -> None:
        self._send = send
        self._renumbering: CitationRenumbering | None = None
        self.sent = ""

    def start_turn(self, passages: list[dict[str, Any]], *, final: bool) -> None:
        """A model turn begins; its text is passed on live only when it is ``final`` (cannot be sent back)."""
        self._renumbering = CitationRenumbering(passages) if final and not self.sent else None

    async def delta(self, piece: str) -> None:
        if self._renumbering is not None:
            await self._emit(self._renumbering.feed(piece))

    async def end_turn(self, *, with_tool_calls: bool) -> None:
        if self._renumbering is not None and not with_tool_calls:
            await self._emit(self._renumbering.finish())
        self._renumbering = None

    async def finish(self, answer_text: str) -> None:
        """The answer is final: send whatever of it was not streamed live (all of it for a checked draft)."""
        if answer_text.startswith(self.sent):
            await self._emit(answer_text[len(self.sent) :])
        else:
            # E.g. the model wrote a few words before deciding to call a tool; the channel replaces the text.
            logger.info("the streamed text is not a prefix of the answer; the channel shows the answer instead")

    async def _emit(self, text: str) -> None:
        if text:
            self.sent += text
            await self._send(text)
