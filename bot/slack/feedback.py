"""👍 / 👎 buttons on answers, the "what was wrong?" modal a 👎 opens, and for editors the offer to make the
answer an evaluation case."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import (
    FEEDBACK_COMMENT_ACTION,
    FEEDBACK_COMMENT_BLOCK,
    FEEDBACK_DOWN,
    FEEDBACK_MODAL,
    FEEDBACK_NATIVE,
    FEEDBACK_UP,
    evaluation_case_offer,
    feedback_choice,
    feedback_modal,
)
from bot.slack.ratings import Sessions, record_comment, record_rating
from tools import permits

logger = logging.getLogger(__name__)


def register_feedback_listeners(app: AsyncApp, sessions: Sessions) -> None:
    async def on_rating(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        choice = feedback_choice(action)
        if choice is None:
            logger.warning("ignored a feedback click with an unknown value %r", str(action.get("value"))[:80])
            return
        (trace_id, rating), user_id = choice, body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id", "")
        await record_rating(sessions, trace_id, user_id, rating)
        editor = permits(context.get("roles") or (), "evaluation.add_case")
        if rating < 0:
            await client.views_open(trigger_id=body["trigger_id"], view=feedback_modal(trace_id, channel_id))
        if not channel_id:
            return
        thanks = "Thanks for the feedback!" if rating > 0 else "Thanks: what you write in the form is kept with it."
        if editor:
            offer = f"{thanks} As an editor you can turn this answer into an evaluation case."
            await client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=offer, blocks=evaluation_case_offer(trace_id, offer)
            )
        elif rating > 0:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, text=thanks)

    async def on_comment(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        value = view["state"]["values"].get(FEEDBACK_COMMENT_BLOCK, {}).get(FEEDBACK_COMMENT_ACTION, {}).get("value")
        if metadata.get("trace_id") and value and value.strip():
            await record_comment(sessions, metadata["trace_id"], body["user"]["id"], value.strip())

    app.action(FEEDBACK_UP)(on_rating)
    app.action(FEEDBACK_DOWN)(on_rating)
    app.action(FEEDBACK_NATIVE)(on_rating)
    app.view(FEEDBACK_MODAL)(on_comment)
