"""``/memory list`` and ``/memory forget N`` read and delete the very memories Slack answers keep, per user."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.agents.conftest import brain
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply, ScriptedToolCall
from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture
async def slack(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str
) -> AsyncIterator[RuntimeSlack]:
    async with slack_on_runtime(slack_api, scripted_model, database_url) as harness:
        yield harness


async def test_memories_kept_by_a_slack_answer_are_listed_and_forgotten_by_their_owner_only(
    slack: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    remember = ScriptedToolCall(name="remember", arguments={"text": "I am on the platform team"})
    scripted_model.responder = brain(act=[ScriptedReply(tool_calls=[remember]), "Noted."])
    await slack.mention("remember that I am on the platform team", user="UMEM", ts="400.000001")
    await slack.answer_of("400.000001")
    memory = slack.service.runner.memory
    assert memory is not None
    await memory.remember(workspace_id="T1", user_id="UMEM", text="Prefers answers with commands to copy.")

    listed = await slack.run_command("/memory", "list", user="UMEM")
    assert listed.splitlines()[1:] == [
        "1. I am on the platform team",
        "2. Prefers answers with commands to copy.",
    ]
    assert "I remember nothing about you yet" in await slack.run_command("/memory", "list", user="UOTHER")
    # Someone else's "forget 1" cannot reach these memories: they have none of their own.
    refused = await slack.run_command("/memory", "forget 1", user="UOTHER")
    assert "is not one of your memories (numbers: none" in refused

    forgotten = await slack.run_command("/memory", "forget 1", user="UMEM")
    assert forgotten == "Forgotten: I am on the platform team"
    left = await slack.run_command("/memory", "list", user="UMEM")
    assert left.splitlines()[1:] == ["1. Prefers answers with commands to copy."]
    out_of_range = await slack.run_command("/memory", "forget 7", user="UMEM")
    assert "`7` is not one of your memories (numbers: 1 to 1)" in out_of_range
    usage = await slack.command("/memory", "forget", user="UMEM")
    assert usage.json()["text"] == "Usage: `/memory forget N`"
