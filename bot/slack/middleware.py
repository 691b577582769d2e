"""Bolt middleware: what every request passes through before a listener sees it, so handlers stay thin.

Order (after Bolt's own signature check, authorization and self-event filter): trace -> event intake (dedupe and
queue the answer job before the acknowledgement; events stop here, except App Home and assistant thread events,
which go on to their listeners; over HTTP, questions are taken before Bolt, see event_intake.py) -> identity
(roles) -> audit trail -> permission check for change commands.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.logging_config import current_run_id, run_context
from bot.settings import Settings
from bot.slack import store
from bot.slack.audit import AuditTrail
from bot.slack.commands import CommandRegistry, split_words
from bot.slack.event_intake import EventIntake
from tools import permits

logger = logging.getLogger(__name__)

Next = Callable[[], Awaitable[BoltResponse]]


def install_middleware(
    app: AsyncApp,
    *,
    settings: Settings,
    sessions: store.Sessions,
    intake: EventIntake,
    commands: CommandRegistry,
) -> None:

    async def trace(body: dict[str, Any], next_: Next) -> BoltResponse:
        if current_run_id() != "-":  # HTTP mode: the server's request middleware already gave this request an id
            return await next_()
        with run_context():
            kind = body.get("type") or ("slash_command" if "command" in body else "unknown")
            logger.debug("slack request: %s", kind)
            return await next_()

    async def event_intake(body: dict[str, Any], next_: Next) -> BoltResponse:
        """Queue the answer to a question-like event before acknowledging it (Socket Mode; over HTTP the route did
        it already); a retried delivery is acknowledged and dropped. No listener runs for it here."""
        return BoltResponse(status=200, body="") if await intake.take(body) else await next_()

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

    for middleware in (trace, event_intake, identity_roles, audit_trail, change_permission):
        app.use(middleware)
