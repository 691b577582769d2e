"""Bolt middleware: what every request passes through before a listener sees it, so handlers stay thin.

Order (after Bolt's own signature check, authorization and self-event filter): trace -> event queue (dedupe and
queue the answer job before the acknowledgement; events stop here, except App Home and assistant thread events,
which go on to their listeners) -> identity (roles) -> audit trail ->
permission check for change commands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.jobs import JobQueue
from bot.logging_config import current_run_id, run_context
from bot.settings import Settings
from bot.slack import store
from bot.slack.assistant_surface import SURFACE_EVENTS
from bot.slack.audit import AuditTrail
from bot.slack.commands import CommandRegistry, split_words
from bot.slack.identity import IdentityResolver, is_direct_message
from bot.slack.incoming_questions import is_person_message
from tools import permits

logger = logging.getLogger(__name__)

Next = Callable[[], Awaitable[BoltResponse]]


def _acknowledged() -> BoltResponse:
    return BoltResponse(status=200, body="")


def install_middleware(
    app: AsyncApp,
    *,
    settings: Settings,
    sessions: store.Sessions,
    ack_engine: AsyncEngine,
    queue: JobQueue,
    identity: IdentityResolver,
    commands: CommandRegistry,
    count_event: Callable[[str], None],
) -> None:
    """Install the middleware; ``count_event`` is told ``received`` or ``retried`` for each queued or dropped
    Events API delivery (the service's metrics)."""
    claimer = store.EventClaimer(ack_engine, queue)

    async def trace(body: dict[str, Any], next_: Next) -> BoltResponse:
        if current_run_id() != "-":  # HTTP mode: the server's request middleware already gave this request an id
            return await next_()
        with run_context():
            kind = body.get("type") or ("slash_command" if "command" in body else "unknown")
            logger.debug("slack request: %s", kind)
            return await next_()

    async def event_queue(body: dict[str, Any], next_: Next) -> BoltResponse:
        """Queue the answer to a question-like event before acknowledging it; a retried delivery is acknowledged
        and dropped. A worker (maybe another process) answers it, so no listener runs here."""
        if body.get("type") != "event_callback":
            return await next_()
        event = body.get("event") or {}
        if event.get("type") in SURFACE_EVENTS:
            return await next_()  # App Home and assistant threads: short work, after the ack (surface_listeners)
        if not is_person_message(event) or not _may_be_question(event, identity):
            return _acknowledged()
        event_id = body.get("event_id")
        if not event_id:
            logger.warning("ignoring a Slack event without an event_id")
            return _acknowledged()
        if not await claimer.claim(event_id, body):
            logger.info("Slack event %s already received (retry %s): not answered again", event_id, _retry(body))
            count_event("retried")
            return _acknowledged()
        count_event("received")
        return _acknowledged()

    async def identity_roles(context: AsyncBoltContext, next_: Next) -> BoltResponse:
        if context.user_id:
            context["roles"] = settings.roles_of(context.user_id)
        return await next_()

    async def audit_trail(context: AsyncBoltContext, next_: Next) -> BoltResponse:
        if context.user_id:
            context["audit"] = AuditTrail(sessions, actor=context.user_id, channel=context.channel_id)
        return await next_()

    async def change_permission(body: dict[str, Any], context: AsyncBoltContext, next_: Next) -> BoltResponse:
        """Refuse changes (``/prompt set``, ``/schedule add``, ...) to anyone not an editor or admin."""
        command = body.get("command")
        if not command:
            return await next_()
        text = body.get("text") or ""
        words = split_words(text)
        subcommand = words[0].lower() if words else ""
        roles = context.get("roles") or frozenset()
        user_id = context.user_id or ""
        channel_id = body.get("channel_id") or ""
        action = await commands.action_of(command, text, user_id, channel_id)
        if action is not None and not permits(roles, action):
            logger.info("refused %s %s for %s (not an editor or admin)", command, subcommand, user_id)
            text = (
                f":lock: `{command} {subcommand}` changes (or tries out) what the bot does for everyone, so only "
                "prompt editors and admins may use it. Ask an admin to add you to PROMPT_EDITORS."
            )
            if command == "/schedule":
                text += ' You may schedule runs into your own DM with the bot: `/schedule add "WHEN" me INSTRUCTION`.'
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        return await next_()

    for middleware in (trace, event_queue, identity_roles, audit_trail, change_permission):
        app.use(middleware)


def _may_be_question(event: dict[str, Any], identity: IdentityResolver) -> bool:
    """Cheap pre-filter so ordinary channel chatter is not stored: the worker makes the real decision."""
    if event.get("type") == "app_mention" or is_direct_message(event.get("channel", ""), event.get("channel_type")):
        return True
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return True
    return identity.channel_settings(event.get("channel", "")).respond_to == "all"


def _retry(body: dict[str, Any]) -> str:
    return str(body.get("retry_attempt", "?"))
