"""Event listeners: mentions, DMs and thread replies. They only hand the stored event to the answer flow, so the
acknowledgement goes back in milliseconds and the agent runs afterwards."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.answering import AnswerFlow


def register_event_listeners(app: AsyncApp, flow: AnswerFlow) -> None:
    async def on_question(body: dict[str, Any]) -> None:
        flow.spawn(flow.handle_event(body))

    app.event("app_mention")(on_question)
    app.event("message")(on_question)
