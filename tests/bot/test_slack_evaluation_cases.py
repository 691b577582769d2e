"""An editor turns a 👎 answer into an evaluation case from the button on the answer; nobody else may."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.evaluation import EvaluationSetStore
from bot.slack.audit import recent_audit
from bot.slack.blocks import (
    EVAL_ANSWERABLE_BLOCK,
    EVAL_FACTS_BLOCK,
    EVAL_INPUT_ACTION,
    EVAL_REFERENCE_BLOCK,
    EVAL_SET_BLOCK,
    EVAL_SOURCES_BLOCK,
)
from tests.agents.conftest import brain
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture
async def slack(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str
) -> AsyncIterator[RuntimeSlack]:
    scripted_model.responder = brain(act_default="Deploy by asking in #ops.")
    async with slack_on_runtime(slack_api, scripted_model, database_url) as harness:
        yield harness


def _input(value: str) -> dict[str, Any]:
    return {EVAL_INPUT_ACTION: {"type": "plain_text_input", "value": value}}


def _form(set_name: str) -> dict[str, Any]:
    return {
        EVAL_SET_BLOCK: _input(set_name),
        EVAL_FACTS_BLOCK: _input("make deploy\nfrom the main branch"),
        EVAL_REFERENCE_BLOCK: _input("Run `make deploy` from the main branch."),
        EVAL_SOURCES_BLOCK: _input("engineering/deploy.md"),
        EVAL_ANSWERABLE_BLOCK: {EVAL_INPUT_ACTION: {"type": "radio_buttons", "selected_option": {"value": "yes"}}},
    }


async def test_a_thumbs_down_answer_becomes_a_case_by_an_editor_only(slack: RuntimeSlack) -> None:
    await slack.mention("how do I deploy?", ts="400.000001")
    answer = await slack.answer_of("400.000001")
    trace_id = [b for b in answer["blocks"] if b["type"] == "actions"][0]["elements"][0]["value"]

    # Someone who is not an editor rates it and is offered nothing; pressing the button anyway is refused.
    await slack.click("feedback_down", trace_id, user="U2")
    await slack.slack.wait_for("views.open")
    assert slack.slack.calls_to("chat.postEphemeral") == []
    await slack.click("eval_case_open", trace_id, user="U2")
    refusal = (await slack.slack.wait_for("chat.postEphemeral", user="U2"))[-1]
    assert "Only prompt editors and admins" in refusal["text"]
    assert len(slack.slack.calls_to("views.open")) == 1  # only the rating's comment form

    # An editor's 👎 offers them, and only them, the button.
    await slack.click("feedback_down", trace_id, user="UEDITOR")
    offer = (await slack.slack.wait_for("chat.postEphemeral", user="UEDITOR"))[-1]
    button = [b for b in offer["blocks"] if b["type"] == "actions"][0]["elements"][0]
    assert (button["action_id"], button["value"]) == ("eval_case_open", trace_id)
    await slack.click("eval_case_open", trace_id, user="UEDITOR")
    opened = await slack.slack.wait_for("views.open", count=3)
    view = opened[-1]["view"]
    assert view["callback_id"] == "eval_case"
    heading = view["blocks"][0]["text"]["text"]
    assert "how do I deploy?" in heading and "rated :thumbsdown:" in heading
    reference = [b for b in view["blocks"] if b.get("block_id") == EVAL_REFERENCE_BLOCK][0]
    assert "initial_value" not in reference["element"]  # a 👎 answer is not offered as the reference

    submitted = {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"]}
    refused = await slack.submit_view(submitted, _form("deploys"), user="U2")
    assert refused.json()["response_action"] == "errors"
    bad_name = await slack.submit_view(submitted, _form("Deploys!"), user="UEDITOR")
    assert "must be lowercase letters" in str(bad_name.json()["errors"])
    saved = await slack.submit_view(submitted, _form("deploys"), user="UEDITOR")
    assert saved.status_code == 200 and not saved.content

    [case] = await EvaluationSetStore(slack.service.sessions).cases("deploys")
    assert (case.question, case.expected_facts, case.expected_sources, case.answerable) == (
        "how do I deploy?",
        ["make deploy", "from the main branch"],
        ["engineering/deploy.md"],
        True,
    )
    assert case.reference_answer == "Run `make deploy` from the main branch."
    assert (case.origin_trace_id, case.author, case.version) == (trace_id, "UEDITOR", 1)
    entry = (await recent_audit(slack.service.sessions, 1))[0]
    assert (entry.actor, entry.action) == ("UEDITOR", "eval.case_add")
    assert json.loads(entry.after or "{}")["expected_facts"] == ["make deploy", "from the main branch"]
    confirmation = (await slack.slack.wait_for("chat.postEphemeral", user="UEDITOR", count=2))[-1]
    assert "v1 in evaluation set `deploys`" in confirmation["text"]
