"""👍 / 👎 buttons on answers and the "what was wrong?" modal a 👎 opens."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import (
    FEEDBACK_COMMENT_ACTION,
    FEEDBACK_COMMENT_BLOCK,
    FEEDBACK_DOWN,
    FEEDBACK_MODAL,
    FEEDBACK_UP,
    feedback_modal,
)
from bot.slack.ratings import Sessions, record_comment, record_rating

logger = logging.getLogger(__name__)


def register_feedback_listeners(app: AsyncApp, sessions: Sessions) -> None:
    async def on_rating(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        trace_id, user_id = action["value"], body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id", "")
        rating = 1 if action["action_id"] == FEEDBACK_UP else -1
        await record_rating(sessions, trace_id, user_id, rating)
        if rating < 0:
            await client.views_open(trigger_id=body["trigger_id"], view=feedback_modal(trace_id, channel_id))
        elif channel_id:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, text="Thanks for the feedback!")

    async def on_comment(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        value = view["state"]["values"].get(FEEDBACK_COMMENT_BLOCK, {}).get(FEEDBACK_COMMENT_ACTION, {}).get("value")
        if metadata.get("trace_id") and value and value.strip():
            await record_comment(sessions, metadata["trace_id"], body["user"]["id"], value.strip())

    app.action(FEEDBACK_UP)(on_rating)
    app.action(FEEDBACK_DOWN)(on_rating)
    app.view(FEEDBACK_MODAL)(on_comment)
