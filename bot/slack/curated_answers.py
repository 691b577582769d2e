"""The "Correct" button under answers and ``/kb curated list|show|edit|retire|confirm``: editors write the answer
the bot should have given, and later askers of a close question get it (see ``agents.curated``).

A non-editor's click gets an ephemeral refusal and no form; the form's submission is checked again (a view can be
submitted by anyone who has it open). ``/kb curated`` is for editors as a whole (the middleware refuses others).
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from agents import CuratedAnswerError, TraceStore
from agents.curated import CuratedAnswer, CuratedStore
from bot.markdown_rendering import escape_mrkdwn
from bot.slack.audit import AuditTrail
from bot.slack.blocks import (
    CURATE_ACTION,
    CURATE_ANSWER_BLOCK,
    CURATE_MODAL,
    CURATE_QUESTION_BLOCK,
    CURATE_SCOPE_BLOCK,
    CURATE_SOURCES_BLOCK,
    EVAL_INPUT_ACTION,
    curated_answer_modal,
)
from bot.slack.commands import CommandError, CommandInvocation, CommandRegistry, CommandReply
from bot.slack.ratings import Sessions
from bot.slack.store import find_answer
from bot.slack.web_client import tell_privately
from tools import permits

EDITORS_ONLY = (
    ":lock: Only prompt editors and admins may correct answers: a correction is given to everyone who asks a "
    "similar question. Ask an admin to add you to PROMPT_EDITORS, or rate the answer :thumbsdown: and say what "
    "was wrong."
)
USAGE = "`/kb curated list`, `show ID`, `edit ID NEW ANSWER`, `confirm ID`, `retire ID`"


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def register_curated_listeners(app: AsyncApp, sessions: Sessions, curated: CuratedStore) -> None:
    traces = TraceStore(sessions)

    async def tell(client: AsyncWebClient, channel_id: str, user_id: str, text: str) -> None:
        await tell_privately(client, channel_id, user_id, text, about="the correction")

    async def on_open(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        await ack()
        trace_id, user_id = str(action.get("value") or ""), body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id", "")
        if not permits(context.get("roles") or (), "curated.change"):
            await tell(client, channel_id, user_id, EDITORS_ONLY)
            return
        trace = await traces.get(trace_id)
        if trace is None:
            await tell(
                client, channel_id, user_id, "That answer's trace is no longer stored, so it cannot be corrected."
            )
            return
        posted = await find_answer(sessions, trace_id)
        modal = curated_answer_modal(
            trace_id,
            trace.question,
            answer=trace.answer,
            sources=list(posted.source_urls) if posted is not None else [],
            channel_id=channel_id,
        )
        await client.views_open(trigger_id=body["trigger_id"], view=modal)

    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        if not permits(context.get("roles") or (), "curated.change"):
            await ack(response_action="errors", errors={CURATE_ANSWER_BLOCK: EDITORS_ONLY[:150]})
            return
        metadata = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]

        def text_of(block: str) -> str:
            return str(values.get(block, {}).get(EVAL_INPUT_ACTION, {}).get("value") or "")

        scope = values.get(CURATE_SCOPE_BLOCK, {}).get(EVAL_INPUT_ACTION, {}).get("selected_option") or {}
        channel_id = str(metadata.get("channel_id") or "")
        try:
            stored = await curated.add(
                text_of(CURATE_QUESTION_BLOCK),
                text_of(CURATE_ANSWER_BLOCK),
                author=user_id,
                sources=_lines(text_of(CURATE_SOURCES_BLOCK)),
                channels=[channel_id] if scope.get("value") == "channel" and channel_id else [],
                workspace_id=str((body.get("team") or {}).get("id") or "default"),
                origin_trace_id=str(metadata.get("trace_id") or "") or None,
            )
        except CuratedAnswerError as error:
            block = CURATE_SOURCES_BLOCK if "sources" in str(error) else CURATE_ANSWER_BLOCK
            await ack(response_action="errors", errors={block: str(error)[:150]})
            return
        audit: AuditTrail = context["audit"]
        await audit.record("curated.add", f"curated answer #{stored.id} v1", before=None, after=stored.live.answer)
        await ack()
        await tell(
            client,
            channel_id,
            user_id,
            f"Saved as curated answer #{stored.id}: close questions are answered with it from now on.",
        )

    app.action(CURATE_ACTION)(on_open)
    app.view(CURATE_MODAL)(on_submit)


def curated_line(answer: CuratedAnswer) -> str:
    last = f"{answer.last_used_at:%Y-%m-%d}" if answer.last_used_at else "never"
    status = "" if answer.status == "active" else f" *{answer.status.replace('_', ' ')}*"
    scope = f" in {', '.join(f'<#{c}>' for c in answer.channels)}" if answer.channels else ""
    return (
        f"• #{answer.id} v{answer.live.version}{status}: {escape_mrkdwn(answer.live.question[:120])}{scope} "
        f"({answer.hit_count} hits, last used {last})"
    )


def register_curated_commands(registry: CommandRegistry, curated: CuratedStore) -> None:
    async def handle(invocation: CommandInvocation) -> CommandReply:
        args = invocation.args
        action = args[0].lower() if args else "list"
        if action == "list":
            await curated.review_changed_sources()
            answers = await curated.list_answers(workspace_id=invocation.team_id or None)
            if not answers:
                return CommandReply(text="No curated answers yet: press *Correct* under an answer to write one.")
            return CommandReply(text="*Curated answers*\n" + "\n".join(curated_line(a) for a in answers))
        if action not in ("show", "edit", "retire", "confirm") or len(args) < 2 or not args[1].lstrip("#").isdigit():
            raise CommandError(f"Usage: {USAGE}.")
        curated_id = int(args[1].lstrip("#"))
        try:
            if action == "show":
                answer = await curated.get(curated_id)
                sources = "".join(f"\n    source: {s.url}" for s in answer.live.sources)
                reason = f"\n    needs review: {escape_mrkdwn(answer.review_reason)}" if answer.review_reason else ""
                return CommandReply(
                    text=f"{curated_line(answer)}\n*Answer* (by <@{answer.live.author}> on "
                    f"{answer.live.created_at:%Y-%m-%d})\n{escape_mrkdwn(answer.live.answer)}{sources}{reason}"
                )
            if action == "edit":
                text = invocation.text.split(None, 3)[3] if len(invocation.text.split(None, 3)) == 4 else ""
                if not text.strip():
                    raise CommandError("Usage: `/kb curated edit ID NEW ANSWER` (the new answer text).")
                before = await curated.get(curated_id)
                answer = await curated.edit(curated_id, author=invocation.user_id, answer=text)
                await invocation.audit.record(
                    "curated.edit",
                    f"curated answer #{answer.id} v{answer.live.version}",
                    before=before.live.answer,
                    after=answer.live.answer,
                )
                return CommandReply(text=f"Curated answer #{answer.id} is now v{answer.live.version}.")
            if action == "confirm":
                answer = await curated.confirm(curated_id, author=invocation.user_id)
                await invocation.audit.record(
                    "curated.confirm", f"curated answer #{answer.id}", before="needs_review", after="active"
                )
                return CommandReply(text=f"Curated answer #{answer.id} is served again (v{answer.live.version}).")
            answer = await curated.retire(curated_id, author=invocation.user_id)
            await invocation.audit.record(
                "curated.retire", f"curated answer #{answer.id}", before="active", after="retired"
            )
            return CommandReply(text=f"Curated answer #{answer.id} is retired: it is not served any more.")
        except CuratedAnswerError as error:
            raise CommandError(str(error)) from error

    registry.register(
        "/kb", "curated", handle, usage="list|show ID|edit ID TEXT|confirm ID|retire ID", summary="curated answers"
    )
