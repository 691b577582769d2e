"""The "Make an eval case" button an editor gets (ephemeral) after rating an answer: it turns the answer into an
evaluation case.

The form starts from the stored trace (the question, and for a 👍 the answer as reference) and the answer's sources;
saving stores a new case (or a new version of the same question's case) in the chosen set and writes the audit log.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from agents import EvaluationError, TraceStore
from agents.evaluation import CaseSpec, EvaluationSetStore
from bot.slack.audit import AuditTrail
from bot.slack.blocks import (
    EVAL_ANSWERABLE_BLOCK,
    EVAL_CASE_ACTION,
    EVAL_CASE_MODAL,
    EVAL_FACTS_BLOCK,
    EVAL_INPUT_ACTION,
    EVAL_REFERENCE_BLOCK,
    EVAL_SET_BLOCK,
    EVAL_SOURCES_BLOCK,
    evaluation_case_modal,
)
from bot.slack.ratings import Sessions, find_rating
from bot.slack.store import find_answer
from bot.slack.web_client import tell_privately
from tools import permits

EDITORS_ONLY = "Only prompt editors and admins may turn answers into evaluation cases."


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def register_evaluation_case_listeners(app: AsyncApp, sessions: Sessions) -> None:
    traces = TraceStore(sessions)
    cases = EvaluationSetStore(sessions)

    async def tell(client: AsyncWebClient, channel_id: str, user_id: str, text: str) -> None:
        await tell_privately(client, channel_id, user_id, text, about="the evaluation case")

    async def on_open(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        trace_id, user_id = str(action["value"]), body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id", "")
        if not permits(context.get("roles") or (), "evaluation.add_case"):
            await tell(client, channel_id, user_id, EDITORS_ONLY)
            return
        trace = await traces.get(trace_id)
        if trace is None:
            await tell(client, channel_id, user_id, "That answer's trace is no longer stored, so no case can be made.")
            return
        posted = await find_answer(sessions, trace_id)
        rating = await find_rating(sessions, trace_id, user_id)
        modal = evaluation_case_modal(
            trace_id,
            trace.question,
            answer=trace.answer,
            sources=list(posted.source_urls) if posted is not None else [],
            rating=rating.rating if rating is not None else None,
            channel_id=channel_id,
        )
        await client.views_open(trigger_id=body["trigger_id"], view=modal)

    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        user_id = body["user"]["id"]
        if not permits(context.get("roles") or (), "evaluation.add_case"):
            await ack(response_action="errors", errors={EVAL_SET_BLOCK: EDITORS_ONLY})
            return
        metadata = json.loads(view.get("private_metadata") or "{}")
        values = view["state"]["values"]

        def text_of(block: str) -> str:
            return str(values.get(block, {}).get(EVAL_INPUT_ACTION, {}).get("value") or "")

        answerable = values.get(EVAL_ANSWERABLE_BLOCK, {}).get(EVAL_INPUT_ACTION, {}).get("selected_option") or {}
        trace = await traces.get(str(metadata.get("trace_id", "")))
        if trace is None:
            await ack(response_action="errors", errors={EVAL_SET_BLOCK: "That answer's trace is no longer stored."})
            return
        set_name = text_of(EVAL_SET_BLOCK).strip()
        try:
            case = CaseSpec(
                question=trace.question,
                expected_facts=_lines(text_of(EVAL_FACTS_BLOCK)),
                reference_answer=text_of(EVAL_REFERENCE_BLOCK).strip(),
                expected_sources=_lines(text_of(EVAL_SOURCES_BLOCK)),
                answerable=answerable.get("value", "yes") != "no",
                origin_trace_id=trace.trace_id,
            )
            stored = await cases.add_case(set_name, case, author=user_id)
        except (EvaluationError, ValueError) as error:
            await ack(response_action="errors", errors={EVAL_SET_BLOCK: str(error)[:150]})
            return
        audit: AuditTrail = context["audit"]
        await audit.record(
            "eval.case_add",
            f"{stored.set_name} case {stored.key} v{stored.version}",
            before=None,
            after=json.dumps(case.model_dump(exclude_none=True), ensure_ascii=False),
        )
        await ack()
        await tell(
            client,
            str(metadata.get("channel_id") or ""),
            user_id,
            f"Saved as case `{stored.key}` v{stored.version} in evaluation set `{stored.set_name}`.",
        )

    app.action(EVAL_CASE_ACTION)(on_open)
    app.view(EVAL_CASE_MODAL)(on_submit)
