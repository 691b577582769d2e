"""Approve / Reject buttons for paused runs: only the asker or an admin decides; the first decision wins, and a
worker resumes the run (an ``approval.resume`` job)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import ApprovalResumeJob, JobKind, JobQueue
from bot.slack.answering import AnswerFlow
from bot.slack.blocks import APPROVE, REJECT
from tools import permits

logger = logging.getLogger(__name__)


def register_approval_listeners(app: AsyncApp, flow: AnswerFlow, queue: JobQueue) -> None:
    async def on_decision(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        approval_id, user_id = action["value"], body["user"]["id"]
        approved = action["action_id"] == APPROVE
        approval = await flow.approvals.find(approval_id)
        surface = approval.surface if approval is not None and approval.surface is not None else None
        channel_id = (body.get("channel") or {}).get("id") or (surface.channel if surface else "")

        async def tell(text: str) -> None:
            await client.chat_postEphemeral(
                channel=channel_id, user=user_id, text=text, thread_ts=surface.thread if surface else None
            )

        if approval is None or surface is None or surface.kind != "slack":
            await tell("I can't find that approval request any more; ask the question again if it still matters.")
            return
        if user_id != approval.requested_by and not permits(context.get("roles") or (), "approval.decide_for_others"):
            logger.info("refused approval %s for %s (not the asker or an admin)", approval_id, user_id)
            await tell(f"Only <@{approval.requested_by}> (who asked) or an admin can approve or reject this.")
            return
        if approval.status != "pending":
            await tell(f"This request was already {approval.status}.")
            return
        # A worker resumes the run: a replica dying half-way costs a retry, not the decision. One resume per
        # approval waits in the queue at a time; the runtime decides once, so a second click is told who won.
        job = ApprovalResumeJob(approval_id=approval_id, approved=approved, decided_by=user_id)
        if await queue.defer_if_absent(JobKind.APPROVAL_RESUME, job, queueing_lock=f"approval:{approval_id}") is None:
            await tell("This request is already being decided.")

    app.action(APPROVE)(on_decision)
    app.action(REJECT)(on_decision)
