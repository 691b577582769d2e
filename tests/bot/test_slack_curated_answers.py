"""An editor corrects an answer with the "Correct" button; the correction answers the next close question, marked as
verified, without a model call; nobody else may correct, and ``/kb curated`` lists it with its hits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.slack.blocks import CURATE_ANSWER_BLOCK, CURATE_QUESTION_BLOCK, CURATE_SCOPE_BLOCK, EVAL_INPUT_ACTION
from tests.agents.conftest import brain, chat_requests
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


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    return {element["action_id"]: element["value"] for block in actions for element in block["elements"]}


async def test_an_editor_corrects_an_answer_and_the_next_close_question_gets_it_without_a_model_call(
    slack: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    await slack.mention("how do I deploy the billing service?", ts="500.000001")
    answer = await slack.answer_of("500.000001")
    trace_id = _buttons(answer)["curated_open"]

    await slack.click("curated_open", trace_id, user="U2")
    refusal = (await slack.slack.wait_for("chat.postEphemeral", user="U2"))[-1]
    assert "Only prompt editors and admins may correct answers" in refusal["text"]
    assert slack.slack.calls_to("views.open") == []

    await slack.click("curated_open", trace_id, user="UEDITOR")
    view = (await slack.slack.wait_for("views.open"))[-1]["view"]
    assert view["callback_id"] == "curated_answer"
    question = [b for b in view["blocks"] if b.get("block_id") == CURATE_QUESTION_BLOCK][0]
    assert question["element"]["initial_value"] == "how do I deploy the billing service?"
    form = {
        CURATE_QUESTION_BLOCK: _input("how do I deploy the billing service?"),
        CURATE_ANSWER_BLOCK: _input("Run `make deploy-billing` from main."),
        CURATE_SCOPE_BLOCK: {EVAL_INPUT_ACTION: {"type": "radio_buttons", "selected_option": {"value": "everywhere"}}},
    }
    submitted = {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"]}
    refused = await slack.submit_view(submitted, form, user="U2")
    assert refused.json()["response_action"] == "errors"
    saved = await slack.submit_view(submitted, form, user="UEDITOR")
    assert saved.status_code == 200 and not saved.content

    model_calls = len(chat_requests(scripted_model))
    await slack.mention("How do I deploy the billing service?", ts="500.000002")
    corrected = await slack.answer_of("500.000002")
    assert "make deploy-billing" in corrected["text"]
    footer = " ".join(e["text"] for b in corrected["blocks"] if b["type"] == "context" for e in b["elements"])
    assert "verified by <@UEDITOR> on" in footer
    assert len(chat_requests(scripted_model)) == model_calls

    listing = await slack.run_command("/kb", "curated list", user="UEDITOR")
    assert "deploy the billing service" in listing and "1 hits" in listing
    denied = await slack.command("/kb", "curated list", user="U2")
    assert "only prompt editors and admins" in denied.json()["text"]
