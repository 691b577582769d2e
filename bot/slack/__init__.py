"""The Slack channel: Bolt app, event handling, Block Kit rendering, feedback, approvals and slash commands.

The face other parts use: ``SlackChannel`` (mounted by the server), ``CommandRegistry`` (where ``/prompt``, ``/kb``,
``/schedule`` and ``/memory`` subcommands plug in), the audit log, rating statistics and the app manifest.
"""

from bot.slack.app import EVENTS_PATH, SlackChannel
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
