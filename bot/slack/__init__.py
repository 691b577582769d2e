"""The Slack channel: Bolt app, event handling, Block Kit rendering, feedback, approvals and slash commands.

The face other parts use: ``SlackChannel`` (mounted by the server), ``CommandRegistry`` (where ``/prompt``, ``/kb``,
``/schedule`` and ``/memory`` subcommands plug in), the audit log, rating statistics and the app manifest.
"""

from typing import TYPE_CHECKING

from bot.package_faces import lazy_exports

if TYPE_CHECKING:
    from bot.slack.app import SlackChannel
    from bot.slack.audit import AuditTrail, write_audit
    from bot.slack.commands import (
        CommandError,
        CommandHandler,
        CommandInvocation,
        CommandRegistry,
        CommandReply,
    )
    from bot.slack.manifest import slack_manifest
    from bot.slack.ratings import PromptVersionRatings, rating_stats, record_rating
    from bot.slack.routes import EVENTS_PATH

__all__ = [
    "EVENTS_PATH",
    "AuditTrail",
    "CommandError",
    "CommandHandler",
    "CommandInvocation",
    "CommandRegistry",
    "CommandReply",
    "PromptVersionRatings",
    "SlackChannel",
    "rating_stats",
    "record_rating",
    "slack_manifest",
    "write_audit",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "SlackChannel": "bot.slack.app",
        "AuditTrail": "bot.slack.audit",
        "write_audit": "bot.slack.audit",
        "CommandError": "bot.slack.commands",
        "CommandHandler": "bot.slack.commands",
        "CommandInvocation": "bot.slack.commands",
        "CommandRegistry": "bot.slack.commands",
        "CommandReply": "bot.slack.commands",
        "slack_manifest": "bot.slack.manifest",
        "PromptVersionRatings": "bot.slack.ratings",
        "rating_stats": "bot.slack.ratings",
        "record_rating": "bot.slack.ratings",
        "EVENTS_PATH": "bot.slack.routes",
    },
)
