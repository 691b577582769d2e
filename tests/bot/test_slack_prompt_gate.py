"""An evaluation set gating a prompt: ``/prompt set`` refuses a worse version, then makes a good one live, and the
audit log has each check and its result; ``/prompt test NAME vN --eval SET`` shows the comparison table."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.evaluation import CaseSpec, EvaluationConfig, EvaluationSetStore
from bot.slack.audit import recent_audit
from tests.agents.conftest import ACCEPT, role_of
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply
from tests.fakes.slack_api import FakeSlackApi

GOOD = "GOOD: give the exact command."


def gate_model(body: dict[str, Any]) -> ScriptedReply:
    system = str(body["messages"][0]["content"])
    if system.startswith("You grade an answer"):
        passed = "make deploy" in str(body["messages"][1]["content"]).split("<answer>", 1)[1]
        return ScriptedReply(text=json.dumps({"reasoning": "compared", "verdict": "pass" if passed else "fail"}))
    if role_of(body) == "reflect":
        return ScriptedReply(text=ACCEPT)
    if system.startswith(GOOD):
        return ScriptedReply(text="Run `make deploy` from the main branch.")
    return ScriptedReply(text="Deploying is done by the platform team, ask them.")


@pytest.fixture
async def slack(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str
) -> AsyncIterator[RuntimeSlack]:
    scripted_model.responder = gate_model
    gated = EvaluationConfig(gates={"answer": "deploys"}, regression_threshold=0.1)
    async with slack_on_runtime(slack_api, scripted_model, database_url, evaluation=gated) as harness:
        cases = [CaseSpec(question="how do I deploy?", expected_facts=["make deploy"])]
        await EvaluationSetStore(harness.service.sessions).import_cases("deploys", cases, author="test")
        yield harness


async def test_the_gate_refuses_a_worse_version_then_allows_a_good_one(slack: RuntimeSlack) -> None:
    prompts = slack.service.runner.prompts
    good = await prompts.set("answer", GOOD + " Cite your sources.", author="test")

    refused = await slack.run_command("/prompt", "set answer Be brief and vague.", user="UEDITOR")
    assert f"`answer` v{good.version + 1} was stored but *not made live*" in refused
    assert f"worse than the live v{good.version} (contains_facts by 1.00" in refused
    assert (await prompts.get("answer")).version == good.version  # still the good one

    allowed = await slack.run_command("/prompt", f"set answer {GOOD} Keep it short.", user="UEDITOR")
    assert f"`answer` v{good.version + 2} is live (was v{good.version}); it passed evaluation set `deploys`" in allowed
    live = await prompts.get("answer")
    assert (live.version, live.text) == (good.version + 2, f"{GOOD} Keep it short.")

    entries = await recent_audit(slack.service.sessions, 3)
    assert [(e.actor, e.action) for e in entries] == [
        ("UEDITOR", "prompt.set"),
        ("UEDITOR", "prompt.gate"),
        ("UEDITOR", "prompt.gate"),
    ]
    failed, passed = json.loads(entries[2].after or "{}"), json.loads(entries[1].after or "{}")
    assert failed["passed"] is False and failed["candidate"]["contains_facts"] == 0.0
    assert passed["passed"] is True and passed["candidate"]["contains_facts"] == 1.0
    assert entries[0].before == GOOD + " Cite your sources." and entries[0].after == f"{GOOD} Keep it short."

    # A form edit of a gated prompt would skip the check, so it is refused with the way to do it.
    said = await slack.run_command("/prompt", "edit answer", user="UEDITOR")
    assert "gated by evaluation set `deploys`" in said


async def test_prompt_test_eval_shows_the_table_against_the_live_version(slack: RuntimeSlack) -> None:
    prompts = slack.service.runner.prompts
    vague = await prompts.set("answer", "Be vague.", author="test")
    await prompts.set("answer", GOOD, author="test")
    before = len(slack.slack.responses)
    acknowledged = await slack.command("/prompt", f"test answer v{vague.version} --eval deploys", user="UEDITOR")
    assert "Running `answer` on evaluation set `deploys`" in acknowledged.json()["text"]
    reply = (await slack.reply(before + 1))["text"]
    assert f"answer v{vague.version} (candidate) against v{vague.version + 1} (live) on set deploys" in reply
    assert "contains_facts       0.000     1.000   -1.000" in reply and "FAILED" in reply
    usage = await slack.run_command("/prompt", "test answer --eval deploys", user="UEDITOR")
    assert "Usage: `/prompt test NAME vN --eval SET`" in usage
