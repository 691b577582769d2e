"""``/prompt list|show|set|edit|history|diff|rollback|test``: thin handlers over the runtime's ``PromptStore``.

They use the very store instance the agent runtime reads, so a change applies to the next answer at once. Every
change (set, edit, rollback) is written to the audit log with the text before and after. ``/prompt stats`` lives with
the built-in commands (it reads the Slack channel's own ratings table).
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import uuid
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents import (
    AgentAnswer,
    AgentRequest,
    AgentRunner,
    Asker,
    EvaluationError,
    PromptError,
    PromptStore,
    PromptVersion,
)
from agents.evaluation import Comparison, EvaluationRunner, PromptGate, comparison_json, comparison_table
from bot.markdown_rendering import escape_mrkdwn, markdown_to_mrkdwn, mrkdwn_link
from bot.slack.audit import AuditTrail
from bot.slack.blocks import (
    MODAL_TEXT_LIMIT,
    PROMPT_EDIT_MODAL,
    PROMPT_NOTE_ACTION,
    PROMPT_NOTE_BLOCK,
    PROMPT_TEXT_ACTION,
    PROMPT_TEXT_BLOCK,
    prompt_edit_modal,
)
from bot.slack.commands import CommandError, CommandInvocation, CommandRegistry, CommandReply
from bot.slack.identity import IdentityResolver
from knowledge import ReaderScope
from tools import permits

logger = logging.getLogger(__name__)

_VERSION = re.compile(r"^[vV]?(\d{1,9})$")
_SET_TEXT = re.compile(r"^\s*\S+\s+\S+\s+(.*)$", re.DOTALL)
# Leave room for the header around a prompt's text in one response_url message.
SHOWN_TEXT_LIMIT = 35_000


def parse_version(word: str) -> int | None:
    """``v3`` or ``3`` -> 3; anything else -> None."""
    found = _VERSION.fullmatch(word)
    return int(found.group(1)) if found else None


def _version_arg(word: str) -> int:
    version = parse_version(word)
    if version is None:
        raise CommandError(f"`{escape_mrkdwn(word)}` is not a version; versions look like `v2`.")
    return version


def _unescape(text: str) -> str:
    """Slack escapes ``&``, ``<`` and ``>`` in command text; a prompt keeps the characters that were typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def set_text(raw: str) -> str:
    """The TEXT of ``set NAME TEXT`` as typed (newlines kept); one quoted argument loses its quotes."""
    found = _SET_TEXT.match(raw)
    text = found.group(1).strip() if found else ""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        try:
            words = shlex.split(text)
        except ValueError:
            words = []
        if len(words) == 1:
            text = words[0]
    return _unescape(text)


def _stamp(version: PromptVersion) -> str:
    return version.created_at.strftime("%Y-%m-%d %H:%M UTC")


def _author(author: str) -> str:
    return f"<@{author}>" if re.fullmatch(r"[UW][A-Z0-9]+", author) else escape_mrkdwn(author)


def _code_block(text: str) -> str:
    shown = text if len(text) <= SHOWN_TEXT_LIMIT else text[:SHOWN_TEXT_LIMIT] + "\n… (cut here)"
    return "```\n" + escape_mrkdwn(shown).replace("```", "ˋˋˋ") + "\n```"


class PromptCommands:
    """The handlers, bound to the prompt store, the agent runner (for ``test``) and who may read what."""

    def __init__(
        self,
        prompts: PromptStore,
        runner: AgentRunner,
        identity: IdentityResolver,
        evaluation: EvaluationRunner | None = None,
    ) -> None:
        self.prompts = prompts
        self.runner = runner
        self.identity = identity
        self.evaluation = evaluation
        # Which prompts an evaluation set gates (``[evaluation] gates``), and the gated way to change them.
        self.gate = PromptGate(prompts, evaluation) if evaluation is not None else None

    def _gated_by(self, name: str) -> str | None:
        """The evaluation set gating ``name``, or None when its changes go live at once."""
        return self.gate.set_for(name) if self.gate is not None else None

    async def _get(self, name: str, version: int | None = None) -> PromptVersion:
        try:
            return await self.prompts.get(name, version)
        except PromptError as error:
            raise CommandError(f"{escape_mrkdwn(str(error))}.") from error

    async def list(self, invocation: CommandInvocation) -> CommandReply:
        summaries = await self.prompts.list_prompts()
        lines = ["*Prompts*"] + [
            f"• `{p.name}` v{p.live_version} live · {p.versions} version{'s' if p.versions != 1 else ''} · "
            f"changed by {_author(p.updated_by)} {p.updated_at.strftime('%Y-%m-%d %H:%M UTC')}"
            for p in summaries
        ]
        return CommandReply(text="\n".join(lines))

    async def show(self, invocation: CommandInvocation) -> CommandReply:
        name = invocation.args[0]
        wanted = _version_arg(invocation.args[1]) if len(invocation.args) > 1 else None
        found = await self._get(name, wanted)
        state = "live" if found.live else "not live"
        note = f" · {escape_mrkdwn(found.note)}" if found.note else ""
        header = f"*`{found.name}` v{found.version}* ({state}) · {_author(found.author)} · {_stamp(found)}{note}"
        return CommandReply(text=f"{header}\n{_code_block(found.text)}")

    async def history(self, invocation: CommandInvocation) -> CommandReply:
        name = invocation.args[0]
        await self._get(name)
        versions = await self.prompts.history(name)
        lines = [
            f"v{v.version}{' (live)' if v.live else ''} · {_stamp(v)} · {_author(v.author)}"
            + (f" · {escape_mrkdwn(v.note)}" if v.note else "")
            for v in versions
        ]
        return CommandReply(text="\n".join(lines))

    async def diff(self, invocation: CommandInvocation) -> CommandReply:
        name, first, second = invocation.args[0], _version_arg(invocation.args[1]), _version_arg(invocation.args[2])
        await self._get(name, first)
        await self._get(name, second)
        changes = await self.prompts.diff(name, first, second)
        if not changes:
            return CommandReply(text=f"`{name}` v{first} and v{second} have the same text.")
        return CommandReply(text=f"*`{name}` v{first} → v{second}*\n{_code_block(changes.rstrip())}")

    async def set(self, invocation: CommandInvocation) -> CommandReply:
        name = invocation.args[0]
        text = set_text(invocation.text)
        if not text:
            raise CommandError("Usage: `/prompt set NAME TEXT` (the new text of the prompt after its name).")
        if self._gated_by(name) is not None:
            return await self._gated_set(name, text, invocation)
        before = await self._get(name)
        saved = await self._save(name, text, invocation.user_id, "set in Slack", invocation.audit, before, "set")
        return CommandReply(text=f"`{name}` v{saved.version} is live (was v{before.version}).")

    async def _compare(self, set_name: str, name: str, version: int) -> Comparison:
        if self.evaluation is None:
            raise CommandError("Evaluation runs are not available in this deployment.")
        try:
            return await self.evaluation.compare(set_name, name, version)
        except (EvaluationError, PromptError) as error:
            raise CommandError(f"{escape_mrkdwn(str(error))}.") from error

    async def _gated_set(self, name: str, text: str, invocation: CommandInvocation) -> CommandReply:
        """The gated change (``PromptGate``): live only if not worse on its evaluation set; the check, its result
        and the change go to the audit log."""
        if self.gate is None:
            raise CommandError("Evaluation runs are not available in this deployment.")
        try:
            change = await self.gate.change(name, text, invocation.user_id, note="set in Slack (gated)")
        except (EvaluationError, PromptError) as error:
            raise CommandError(f"{escape_mrkdwn(str(error))}.") from error
        result = comparison_json(change.comparison)
        verdict = {key: result[key] for key in ("passed", "candidate", "live", "regressions", "threshold")}
        before, candidate, set_name = change.before, change.candidate, escape_mrkdwn(change.set_name)
        await invocation.audit.record(
            "prompt.gate",
            f"{name} v{candidate.version} against v{before.version} on {change.set_name}",
            before=None,
            after=json.dumps(verdict),
        )
        table = _code_block(comparison_table(change.comparison))
        if not change.promoted:
            return CommandReply(
                text=f"`{name}` v{candidate.version} was stored but *not made live*: on evaluation set "
                f"`{set_name}` it is worse than the live v{before.version} ({escape_mrkdwn(change.dropped)}). "
                f"Change the text and `/prompt set` again.\n{table}"
            )
        await invocation.audit.record(
            "prompt.set", f"{name} v{before.version} -> v{change.live.version}", before=before.text, after=text
        )
        return CommandReply(
            text=f"`{name}` v{change.live.version} is live (was v{before.version}); it passed evaluation set "
            f"`{set_name}`.\n{table}"
        )

    async def rollback(self, invocation: CommandInvocation) -> CommandReply:
        name, version = invocation.args[0], _version_arg(invocation.args[1])
        before = await self._get(name)
        old = await self._get(name, version)
        try:
            saved = await self.prompts.rollback(name, version, invocation.user_id)
        except PromptError as error:
            raise CommandError(f"{escape_mrkdwn(str(error))}.") from error
        await invocation.audit.record(
            "prompt.rollback", f"{name} v{before.version} -> v{saved.version}", before=before.text, after=saved.text
        )
        return CommandReply(text=f"`{name}` v{saved.version} is live (the text of v{old.version}).")

    async def edit(self, invocation: CommandInvocation) -> CommandReply:
        name = invocation.args[0]
        live = await self._get(name)
        gated_by = self._gated_by(name)
        if gated_by is not None:
            raise CommandError(
                f"`{name}` is gated by evaluation set `{escape_mrkdwn(gated_by)}`: change it with "
                f"`/prompt set {name} TEXT`, which makes the new text live only if it passes."
            )
        if len(live.text) > MODAL_TEXT_LIMIT:
            raise CommandError(
                f"`{name}` is {len(live.text)} characters, more than a Slack form holds ({MODAL_TEXT_LIMIT}); "
                f"change it with `/prompt set {name} TEXT` or `switchboard prompts set`."
            )
        if not invocation.trigger_id:
            raise CommandError("Slack sent no trigger id with this command, so no form can open; try again.")
        modal = prompt_edit_modal(name, live.version, live.text, invocation.channel_id)
        await invocation.client.views_open(trigger_id=invocation.trigger_id, view=modal)
        return CommandReply(text=f"Editing `{name}` v{live.version} in a form; saving makes a new live version.")

    async def test(self, invocation: CommandInvocation) -> CommandReply:
        """Answer QUESTION with version N of the prompt in a throwaway thread; only the editor sees the answer."""
        name, rest = invocation.args[0], invocation.args[1:]
        version = parse_version(rest[0]) if rest else None
        if "--eval" in rest:
            return await self._test_on_set(name, version, rest)
        question = " ".join(rest[1:] if version is not None else rest).strip()
        if not question:
            raise CommandError("Usage: `/prompt test NAME [vN] QUESTION` (the question to try the prompt on).")
        tried = await self._get(name, version)
        asker = Asker(
            user_id=invocation.user_id,
            channel="slack",
            workspace_id=invocation.team_id,
            display_name=await self.identity.display_name(invocation.user_id),
            # Only the editor sees the answer, so it may use what the editor may read.
            scope=ReaderScope(readers=(self.identity.reader(invocation.user_id),)),
            roles=invocation.roles,
        )
        request = AgentRequest(
            question=question,
            thread_id=f"prompt-test:{uuid.uuid4().hex}",
            asker=asker,
            prompt_overrides={name: tried.version},
            use_curated=False,
        )
        answer = await self.runner.answer(request)
        return CommandReply(text=render_test_answer(name, tried.version, answer))

    async def _test_on_set(self, name: str, version: int | None, rest: Sequence[str]) -> CommandReply:
        """``/prompt test NAME vN --eval SET``: the set answered with vN and with the live version, as a table."""
        position = rest.index("--eval")
        if version is None or position + 1 >= len(rest) or len(rest) != 3:
            raise CommandError("Usage: `/prompt test NAME vN --eval SET` (a version and an evaluation set).")
        tried = await self._get(name, version)
        comparison = await self._compare(rest[position + 1], name, tried.version)
        return CommandReply(text=_code_block(comparison_table(comparison)))

    async def _save(
        self,
        name: str,
        text: str,
        author: str,
        note: str,
        audit: AuditTrail,
        before: PromptVersion,
        how: str,
    ) -> PromptVersion:
        try:
            saved = await self.prompts.set(name, text, author, note=note)
        except PromptError as error:
            raise CommandError(f"{escape_mrkdwn(str(error))}.") from error
        await audit.record(
            f"prompt.{how}", f"{name} v{before.version} -> v{saved.version}", before=before.text, after=saved.text
        )
        return saved

    async def on_edit_submitted(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """Save the form's text as the new live version; refuse (in the form) a non-editor or a stale edit."""
        metadata = json.loads(view.get("private_metadata") or "{}")
        name, base_version = str(metadata.get("name", "")), int(metadata.get("base_version", 0))
        values = view["state"]["values"]
        text = (values.get(PROMPT_TEXT_BLOCK, {}).get(PROMPT_TEXT_ACTION, {}).get("value") or "").strip()
        note = (values.get(PROMPT_NOTE_BLOCK, {}).get(PROMPT_NOTE_ACTION, {}).get("value") or "").strip()
        user_id = body["user"]["id"]
        if not permits(context.get("roles") or (), "prompt.change"):
            refused = "Only prompt editors and admins may change prompts."
            await ack(response_action="errors", errors={PROMPT_TEXT_BLOCK: refused})
            return
        if self._gated_by(name) is not None:
            gated = f"{name} is gated by an evaluation set; use /prompt set {name} TEXT instead."
            await ack(response_action="errors", errors={PROMPT_TEXT_BLOCK: gated})
            return
        try:
            live = await self.prompts.get(name)
        except PromptError as error:
            await ack(response_action="errors", errors={PROMPT_TEXT_BLOCK: str(error)[:150]})
            return
        if live.version != base_version:
            stale = f"v{live.version} became live while you edited v{base_version}; cancel and run /prompt edit again."
            await ack(response_action="errors", errors={PROMPT_TEXT_BLOCK: stale})
            return
        if text == live.text:
            await ack()
            return
        audit: AuditTrail = context["audit"]
        try:
            saved = await self._save(name, text, user_id, note or "edited in Slack", audit, live, "edit")
        except CommandError as error:
            await ack(response_action="errors", errors={PROMPT_TEXT_BLOCK: str(error)[:150]})
            return
        await ack()
        channel_id = str(metadata.get("channel_id") or "")
        if channel_id:
            try:
                await client.chat_postEphemeral(
                    channel=channel_id, user=user_id, text=f"`{name}` v{saved.version} is live (was v{live.version})."
                )
            except SlackApiError as error:
                logger.warning("could not confirm the prompt edit to %s: %s", user_id, error.response.get("error"))


def render_test_answer(name: str, version: int, answer: AgentAnswer) -> str:
    """The trial answer with its sources and the versions it used; says so when the prompt was not used at all."""
    seen = list(dict.fromkeys(citation.url for citation in answer.citations))
    lines = [
        f"*Trying `{escape_mrkdwn(name)}` v{version}* (only you see this; nothing was posted)",
        markdown_to_mrkdwn(answer.text, own_links=seen),
    ]
    if seen:
        titles = {c.url: c.title or c.url for c in answer.citations}
        lines.append("*Sources*\n" + "\n".join(f"• {mrkdwn_link(url, titles[url])}" for url in seen))
    used = " · ".join(f"{n} v{v}" for n, v in sorted(answer.prompt_versions.items())) or answer.mode
    lines.append(f"_versions used: {used}_")
    if answer.prompt_versions and name not in answer.prompt_versions:
        lines.append(f"_Note: a Slack answer does not use `{name}`, so this answer does not show its effect._")
    return "\n".join(lines)


def register_prompt_commands(
    registry: CommandRegistry,
    app: AsyncApp,
    prompts: PromptStore,
    runner: AgentRunner,
    identity: IdentityResolver,
    evaluation: EvaluationRunner | None = None,
) -> None:
    """Plug the ``/prompt`` subcommands into the router and the edit form's submission into the Bolt app."""
    commands = PromptCommands(prompts, runner, identity, evaluation)
    registry.register("/prompt", "list", commands.list, summary="every prompt with its live version", max_args=0)
    registry.register(
        "/prompt", "show", commands.show, usage="NAME [vN]", summary="a prompt's text", min_args=1, max_args=2
    )
    registry.register(
        "/prompt", "history", commands.history, usage="NAME", summary="every version", min_args=1, max_args=1
    )
    registry.register(
        "/prompt", "diff", commands.diff, usage="NAME vA vB", summary="what changed", min_args=3, max_args=3
    )
    registry.register(
        "/prompt",
        "set",
        commands.set,
        usage="NAME TEXT",
        summary="make TEXT the live version",
        min_args=2,
    )
    registry.register(
        "/prompt",
        "edit",
        commands.edit,
        usage="NAME",
        summary="edit the live text in a form",
        min_args=1,
        max_args=1,
    )
    registry.register(
        "/prompt",
        "rollback",
        commands.rollback,
        usage="NAME vN",
        summary="make an old version's text live again",
        min_args=2,
        max_args=2,
    )
    registry.register(
        "/prompt",
        "test",
        commands.test,
        usage="NAME [vN] QUESTION | NAME vN --eval SET",
        summary="try a version on a question, or on an evaluation set against the live version (only you see it)",
        min_args=2,
        acknowledgement=lambda args: (
            f"Running `{args[0]}` on evaluation set `{escape_mrkdwn(args[-1])}`; the table will appear here."
            if "--eval" in args
            else f"Trying `{args[0]}` on your question; the answer will appear here, for you only."
        ),
    )
    app.view(PROMPT_EDIT_MODAL)(commands.on_edit_submitted)
