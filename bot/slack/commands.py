"""Slash commands: ``/prompt``, ``/kb``, ``/schedule``, ``/memory``, routed by subcommand through a registry.

Other parts plug their subcommands in with ``CommandRegistry.register``; a subcommand nobody registered does not
exist (the user gets the usage help), so nothing pretends to work. Permission checks and the audit trail come from
middleware; handlers only parse their arguments, do the work and return the reply.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from slack_sdk.web.async_client import AsyncWebClient

from agents import PromptNotFoundError, PromptStore, TraceStore
from bot.errors import BotError
from bot.logging_config import current_run_id
from bot.markdown_rendering import escape_mrkdwn
from bot.slack.audit import AuditTrail
from bot.slack.ratings import PromptVersionRatings, RatingComment, Sessions, latest_comments, rating_stats
from tools import REQUIRED_ROLES, Action, Role

logger = logging.getLogger(__name__)

COMMANDS: dict[str, str] = {
    "/prompt": "read and change the prompts the bot answers with",
    "/kb": "the knowledge base: status, sources, sync, curated answers",
    "/schedule": "scheduled agent runs that post to a channel",
    "/memory": "what the bot remembers about you",
}
# The action each subcommand that changes something is checked as (``tools.REQUIRED_ROLES`` says who may), whether
# or not the subcommand is wired in this deployment.
SUBCOMMAND_ACTIONS: dict[tuple[str, str], Action] = {
    ("/prompt", "set"): "prompt.change",
    ("/prompt", "edit"): "prompt.change",
    ("/prompt", "rollback"): "prompt.change",
    ("/prompt", "test"): "prompt.change",
    ("/kb", "sync"): "knowledge.sync",
    ("/kb", "curated"): "curated.change",
    ("/schedule", "add"): "schedule.change",
    ("/schedule", "remove"): "schedule.change",
}


class CommandError(BotError, ValueError):
    """A user's command cannot be carried out; the message says why and what to type instead."""


class CommandReply(BaseModel):
    text: str
    blocks: list[dict[str, Any]] | None = None
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"


@dataclass(frozen=True)
class CommandInvocation:
    """One slash command call as handlers see it."""

    command: str
    subcommand: str
    args: list[str]
    user_id: str
    team_id: str
    channel_id: str
    trigger_id: str | None
    roles: frozenset[Role]
    audit: AuditTrail
    client: AsyncWebClient
    # The text after the slash command as typed (``args`` lose newlines and quotes; ``/prompt set`` keeps them).
    text: str = ""


CommandHandler = Callable[[CommandInvocation], Awaitable[CommandReply]]
# The action a call is checked as when it depends on what the call touches (``/schedule add ... me`` touches only the
# caller's own things), from the text after the subcommand, the user id and the channel the command was typed in.
ActionOfCall = Callable[[str, str, str], Awaitable[Action]]
# The immediate acknowledgement of a long-running subcommand, from its arguments ("Running schedule #3 now...").
Acknowledgement = Callable[[list[str]], str]


@dataclass(frozen=True)
class Subcommand:
    name: str
    handler: CommandHandler
    usage: str  # arguments after the subcommand, e.g. "NAME [vN]"
    summary: str
    min_args: int = 0
    max_args: int | None = None
    action_of_call: ActionOfCall | None = None
    acknowledgement: Acknowledgement | None = None


Spawn = Callable[[Coroutine[Any, Any, None]], None]
Respond = Callable[..., Awaitable[Any]]
Ack = Callable[..., Awaitable[Any]]


@dataclass
class CommandRegistry:
    """Subcommands per slash command, and the router Bolt calls for each of them."""

    _subcommands: dict[str, dict[str, Subcommand]] = field(default_factory=lambda: {name: {} for name in COMMANDS})

    def register(
        self,
        command: str,
        name: str,
        handler: CommandHandler,
        *,
        usage: str = "",
        summary: str,
        min_args: int = 0,
        max_args: int | None = None,
        action_of_call: ActionOfCall | None = None,
        acknowledgement: Acknowledgement | None = None,
    ) -> None:
        """Add ``command name``; a subcommand in ``SUBCOMMAND_ACTIONS`` is checked as its action, or as the one
        ``action_of_call`` names for each call; ``acknowledgement`` is shown at once while the handler runs."""
        if command not in self._subcommands:
            raise ValueError(f"unknown slash command {command!r}; expected one of {', '.join(COMMANDS)}")
        if name in self._subcommands[command]:
            raise ValueError(f"{command} {name} is already registered")
        self._subcommands[command][name] = Subcommand(
            name, handler, usage, summary, min_args, max_args, action_of_call, acknowledgement
        )

    def find(self, command: str, name: str) -> Subcommand | None:
        return self._subcommands.get(command, {}).get(name)

    def is_change(self, command: str, name: str) -> bool:
        action = SUBCOMMAND_ACTIONS.get((command, name))
        return action is not None and bool(REQUIRED_ROLES[action])

    async def action_of(self, command: str, text: str, user_id: str, channel_id: str) -> Action | None:
        """The action this call (``text`` as typed after the command) is checked as; None when anyone may."""
        words = split_words(text)
        name = words[0].lower() if words else ""
        action = SUBCOMMAND_ACTIONS.get((command, name))
        registered = self.find(command, name)
        if action is not None and registered is not None and registered.action_of_call is not None:
            return await registered.action_of_call(text_after_subcommand(text), user_id, channel_id)
        return action

    def usage(self, command: str) -> str:
        lines = [f"*{command}*: {COMMANDS.get(command, '')}"]
        subcommands = self._subcommands.get(command, {})
        if not subcommands:
            lines.append(f"No `{command}` subcommands are available in this deployment.")
        for sub in subcommands.values():
            lock = ""
            if self.is_change(command, sub.name):
                lock = " (editors and admins" + ("; anyone for their own DM)" if sub.action_of_call else ")")
            lines.append(f"• `{command} {sub.name}{' ' + sub.usage if sub.usage else ''}`: {sub.summary}{lock}")
        return "\n".join(lines)

    async def dispatch(
        self,
        *,
        body: dict[str, Any],
        context: dict[str, Any],
        ack: Ack,
        respond: Respond,
        client: AsyncWebClient,
        spawn: Spawn,
    ) -> None:
        """Parse ``SUBCOMMAND args`` (shell-style quotes allowed), acknowledge at once, run the handler after."""
        command = body["command"]
        words = split_words(body.get("text") or "")
        if not words or words[0].lower() == "help":
            await ack(response_type="ephemeral", text=self.usage(command))
            return
        name, args = words[0].lower(), words[1:]
        sub = self.find(command, name)
        if sub is None:
            unknown = f"Unknown subcommand `{escape_mrkdwn(name)}`.\n"
            await ack(response_type="ephemeral", text=unknown + self.usage(command))
            return
        if len(args) < sub.min_args or (sub.max_args is not None and len(args) > sub.max_args):
            await ack(response_type="ephemeral", text=f"Usage: `{command} {sub.name} {sub.usage}`".rstrip())
            return
        if sub.acknowledgement is not None:
            # The acknowledgement echoes what was typed: escaped, so it cannot mention anyone.
            await ack(response_type="ephemeral", text=sub.acknowledgement([escape_mrkdwn(arg) for arg in args]))
        else:
            await ack()
        invocation = CommandInvocation(
            command=command,
            subcommand=name,
            args=args,
            user_id=body["user_id"],
            team_id=body.get("team_id") or "default",
            channel_id=body.get("channel_id") or "",
            trigger_id=body.get("trigger_id"),
            roles=context.get("roles") or frozenset(),
            audit=context["audit"],
            client=client,
            text=body.get("text") or "",
        )
        spawn(self._run(sub, invocation, respond))

    async def _run(self, sub: Subcommand, invocation: CommandInvocation, respond: Respond) -> None:
        try:
            reply = await sub.handler(invocation)
        except CommandError as error:
            reply = CommandReply(text=str(error))
        except Exception:
            # The edge of a command: the log gets the traceback, the user a reference.
            logger.exception("%s %s failed", invocation.command, invocation.subcommand)
            reply = CommandReply(
                text=f"Sorry, `{invocation.command} {invocation.subcommand}` failed (reference `{current_run_id()}`)."
            )
        await respond(**reply.model_dump(exclude_none=True))


def split_words(text: str) -> list[str]:
    """Shell-style words (quotes group words); text with an apostrophe ("don't") is split on spaces instead."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def text_after_subcommand(text: str) -> str:
    """``add "every day" #ops Do it`` -> ``"every day" #ops Do it``, as typed (newlines and quotes kept)."""
    parts = text.strip().split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def prompt_stats_command(sessions: Sessions, prompts: PromptStore | None = None) -> CommandHandler:
    """``/prompt stats NAME``: per version, answers made, 👍 / 👎, the approval rate with its 95% Wilson interval, and
    the latest comments, from the ratings stored with each answer and the stored traces.

    With the prompt store, an unknown name is refused with the list of prompts that exist.
    """

    async def handler(invocation: CommandInvocation) -> CommandReply:
        name = invocation.args[0]
        if prompts is not None:
            try:
                await prompts.get(name)
            except PromptNotFoundError as error:
                raise CommandError(f"{error}.") from error
        stats = {row.version: row for row in await rating_stats(sessions, name)}
        answers = await TraceStore(sessions).prompt_version_counts(name)
        if not stats and not answers:
            return CommandReply(text=f"No answers or ratings yet for prompt `{name}`.")
        lines = [f"*Ratings for prompt `{name}`*"]
        for version in sorted(set(stats) | set(answers)):
            row = stats.get(version) or PromptVersionRatings(version=version, up=0, down=0, comments=0)
            line = f"• `v{version}`: {format_approval(row)}"
            count = answers.get(version, 0)
            line += f" · {count} answer{'s' if count != 1 else ''}"
            if row.comments:
                line += f" · {row.comments} comment{'s' if row.comments != 1 else ''}"
            lines.append(line)
        comments = await latest_comments(sessions, name)
        if comments:
            lines.append("*Latest comments*")
            lines += [f"• {format_comment(comment)}" for comment in comments]
        return CommandReply(text="\n".join(lines))

    return handler


def format_approval(row: PromptVersionRatings) -> str:
    """``👍 12 · 👎 3 · 80% helpful (95% interval 55–93%)``: one version's ratings, as /prompt stats and App Home
    show them."""
    text = f":thumbsup: {row.up} · :thumbsdown: {row.down} · "
    if not row.total:
        return text + "no ratings"
    low, high = row.approval_interval
    return text + f"{100 * row.up / row.total:.0f}% helpful (95% interval {100 * low:.0f}–{100 * high:.0f}%)"


def format_comment(comment: RatingComment) -> str:
    """A rater's 👎 comment (hostile text: escaped) with its version, rater and day."""
    return f"`v{comment.version}` <@{comment.user_id}> {comment.at:%Y-%m-%d}: {escape_mrkdwn(comment.comment[:300])}"


def register_builtin_commands(
    registry: CommandRegistry, sessions: Sessions, prompts: PromptStore | None = None
) -> None:
    """The subcommands that need nothing beyond the Slack channel's own tables (and the prompt store, if any)."""
    registry.register(
        "/prompt",
        "stats",
        prompt_stats_command(sessions, prompts),
        usage="NAME",
        summary="ratings per version of a prompt",
        min_args=1,
        max_args=1,
    )
