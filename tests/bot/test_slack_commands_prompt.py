"""``/prompt`` from Slack against the real agent runtime (the scripted model as LLM), and one end-to-end answer.

The knowledge index is empty in this branch (the HybridRetriever arrives with the index branch), so nothing here
depends on retrieval; what the model was told (its system prompt) is read from the scripted model's requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agents.evaluation import wilson_interval
from agents.prompts import SEED_DIRECTORY
from bot.slack.audit import recent_audit
from bot.slack.blocks import (
    FEEDBACK_COMMENT_ACTION,
    FEEDBACK_COMMENT_BLOCK,
    PROMPT_NOTE_ACTION,
    PROMPT_NOTE_BLOCK,
    PROMPT_TEXT_ACTION,
    PROMPT_TEXT_BLOCK,
)
from tests.agents.conftest import brain, chat_requests
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi

SEED_ANSWER = (SEED_DIRECTORY / "answer.md").read_text(encoding="utf-8").strip()


@pytest.fixture
async def slack(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str
) -> AsyncIterator[RuntimeSlack]:
    scripted_model.responder = brain(act_default="Deploy with `make deploy` from the main branch.")
    async with slack_on_runtime(slack_api, scripted_model, database_url) as harness:
        yield harness


def _system_prompts(model: ScriptedModelServer) -> list[str]:
    return [str(request["messages"][0]["content"]) for request in chat_requests(model, "act")]


def _footer(answer: dict[str, Any]) -> str:
    return str([b for b in answer["blocks"] if b["type"] == "context"][-1]["elements"][0]["text"])


def _trace_id(answer: dict[str, Any]) -> str:
    actions = [b for b in answer["blocks"] if b["type"] == "actions"][0]
    return str(actions["elements"][0]["value"])


async def _live(slack: RuntimeSlack, name: str = "answer") -> int:
    return (await slack.service.runner.prompts.get(name)).version


async def test_mention_is_answered_by_the_real_runtime_in_thread_with_buttons_and_prompt_version(
    slack: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    live = await _live(slack)
    await slack.mention("how do I deploy?", ts="100.000001")
    answer = await slack.answer_of("100.000001")

    working = slack.slack.posted("C1")[0]
    assert working["thread_ts"] == "100.000001"
    text = "\n".join(b["text"]["text"] for b in answer["blocks"] if b["type"] == "section")
    assert "Deploy with `make deploy` from the main branch." in text
    assert f"answer v{live}" in _footer(answer)
    buttons = [b for b in answer["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [button["action_id"] for button in buttons] == ["curated_open"]
    [thumbs] = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"]
    assert thumbs["type"] == "feedback_buttons"
    assert thumbs["positive_button"]["value"] == "up:" + _trace_id(answer)
    assert thumbs["negative_button"]["value"] == "down:" + _trace_id(answer)
    # The real runtime stored the trace under that id, with the question and the prompt versions.
    trace = await slack.service.runner.traces.get(_trace_id(answer))
    assert trace is not None and trace.question == "how do I deploy?" and trace.prompt_versions["answer"] == live
    assert _system_prompts(scripted_model)[-1].startswith(SEED_ANSWER)


async def test_editor_set_then_rollback_changes_what_the_next_answer_uses(
    slack: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    start = await _live(slack)
    terse = "Answer in one short sentence.\nNever guess; say when you don't know."
    said = await slack.run_command("/prompt", f"set answer {terse}", user="UEDITOR")
    assert said == f"`answer` v{start + 1} is live (was v{start})."

    await slack.mention("how do I deploy?", ts="200.000001")
    answer = await slack.answer_of("200.000001")
    assert f"answer v{start + 1}" in _footer(answer)
    assert _system_prompts(scripted_model)[-1].startswith(terse)

    said = await slack.run_command("/prompt", f"rollback answer v{start}", user="UADMIN")
    assert said == f"`answer` v{start + 2} is live (the text of v{start})."
    await slack.mention("and now?", ts="201.000001")
    answer = await slack.answer_of("201.000001")
    assert f"answer v{start + 2}" in _footer(answer)
    assert not _system_prompts(scripted_model)[-1].startswith(terse)

    audit = await recent_audit(slack.service.sessions, 2)
    assert [(entry.actor, entry.action) for entry in audit] == [
        ("UADMIN", "prompt.rollback"),
        ("UEDITOR", "prompt.set"),
    ]
    assert audit[1].after == terse and audit[0].before == terse and audit[0].after == audit[1].before


async def test_non_editor_is_refused_every_change_and_nothing_changes(slack: RuntimeSlack) -> None:
    live = await _live(slack)
    audited = len(await recent_audit(slack.service.sessions, 1000))
    for text in ("set answer Be rude.", f"rollback answer v{live}", "edit answer", "test answer how do I deploy?"):
        response = await slack.command("/prompt", text, user="U2")
        assert response.status_code == 200
        assert response.json()["response_type"] == "ephemeral"
        assert "only prompt editors and admins may use it" in response.json()["text"]
    assert await _live(slack) == live
    assert len(await recent_audit(slack.service.sessions, 1000)) == audited
    assert slack.slack.calls_to("views.open") == [] and slack.slack.responses == []


async def test_anyone_reads_list_history_diff_and_show_and_unknown_names_say_what_exists(slack: RuntimeSlack) -> None:
    start = await _live(slack)
    await slack.run_command("/prompt", "set answer Answer like a runbook: numbered steps.", user="UEDITOR")

    listing = await slack.run_command("/prompt", "list", user="U2")
    assert f"`answer` v{start + 1} live" in listing and "`planner` v1 live" in listing

    history = (await slack.run_command("/prompt", "history answer", user="U2")).splitlines()
    assert len(history) == start + 1
    assert history[0].startswith(f"v{start + 1} (live) · ") and "<@UEDITOR> · set in Slack" in history[0]
    assert history[-1].startswith("v1 · ") and "seeded from answer.md" in history[-1]

    diff = await slack.run_command("/prompt", f"diff answer v1 v{start + 1}", user="U2")
    assert "+Answer like a runbook: numbered steps." in diff and "-You are Switchboard" in diff

    shown = await slack.run_command("/prompt", "show answer v1", user="U2")
    assert shown.startswith("*`answer` v1* (not live)") and "You are Switchboard" in shown

    unknown = await slack.run_command("/prompt", "show nope", user="U2")
    assert "no prompt named 'nope'; prompts are: answer," in unknown
    missing = await slack.run_command("/prompt", "show answer v99", user="U2")
    assert f"has no version 99; versions are v1 to v{start + 1}" in missing
    bad = await slack.run_command("/prompt", "diff answer v1 latest", user="U2")
    assert "`latest` is not a version" in bad

    usage = await slack.command("/prompt", "diff answer v1", user="U2")
    assert usage.json()["text"] == "Usage: `/prompt diff NAME vA vB`"
    help_text = (await slack.command("/prompt", "help", user="U2")).json()["text"]
    for form in ("show NAME [vN]", "set NAME TEXT", "edit NAME", "rollback NAME vN", "test NAME [vN] QUESTION"):
        assert f"/prompt {form}" in help_text


async def test_prompt_test_answers_with_the_chosen_version_only_to_the_editor(
    slack: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    await slack.run_command("/prompt", "set answer Talk like a pirate.", user="UEDITOR")
    live = await _live(slack)
    posted_before = len(slack.slack.posted())

    acknowledged = await slack.command("/prompt", "test answer v1 how do I deploy?", user="UEDITOR")
    assert "Trying `answer`" in acknowledged.json()["text"]
    assert acknowledged.json()["response_type"] == "ephemeral"
    reply = await slack.reply(2)

    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("*Trying `answer` v1* (only you see this; nothing was posted)")
    assert "Deploy with `make deploy` from the main branch." in reply["text"]
    assert "versions used: answer v1" in reply["text"]
    assert _system_prompts(scripted_model)[-1].startswith(SEED_ANSWER)
    assert len(slack.slack.posted()) == posted_before  # nothing in any channel
    assert await _live(slack) == live  # trying a version does not make it live


async def test_stats_show_answers_ratings_wilson_interval_and_latest_comments_per_version(slack: RuntimeSlack) -> None:
    live = await _live(slack)
    await slack.mention("how do I deploy?", ts="300.000001")
    trace_id = _trace_id(await slack.answer_of("300.000001"))
    await slack.click("feedback_up", trace_id, user="U1")
    await slack.click("feedback_down", trace_id, user="U2")
    await slack.click("feedback_up", trace_id, user="U3")
    modal = (await slack.slack.wait_for("views.open"))[-1]["view"]
    comment = {FEEDBACK_COMMENT_BLOCK: {FEEDBACK_COMMENT_ACTION: {"type": "plain_text_input", "value": "too <vague>"}}}
    submitted = {"callback_id": modal["callback_id"], "private_metadata": modal["private_metadata"]}
    assert (await slack.submit_view(submitted, comment, user="U2")).status_code == 200

    stats = await slack.run_command("/prompt", "stats answer", user="U2")
    # 2 of 3 helpful: the 95% Wilson interval is 20.8% to 93.9%.
    assert (
        f"• `v{live}`: :thumbsup: 2 · :thumbsdown: 1 · 67% helpful (95% interval 21–94%) · 1 answer · 1 comment"
        in stats
    )
    assert "*Latest comments*" in stats and f"• `v{live}` <@U2> " in stats and "too &lt;vague&gt;" in stats
    unknown = await slack.run_command("/prompt", "stats answr", user="U2")
    assert "no prompt named 'answr'" in unknown


def test_wilson_interval_is_wide_for_few_ratings_and_stays_within_bounds() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(2, 2)
    assert round(low, 3) == 0.342 and high == 1.0
    low, high = wilson_interval(80, 100)
    assert (round(low, 3), round(high, 3)) == (0.711, 0.867)
    assert wilson_interval(0, 5)[0] == 0.0


async def test_edit_opens_a_modal_with_the_live_text_and_saving_makes_an_audited_version(slack: RuntimeSlack) -> None:
    live = await slack.service.runner.prompts.get("planner")
    said = await slack.run_command("/prompt", "edit planner", user="UEDITOR", channel="C7")
    assert said == f"Editing `planner` v{live.version} in a form; saving makes a new live version."
    opened = (await slack.slack.wait_for("views.open"))[-1]
    assert opened["trigger_id"].startswith("trig-")
    view = opened["view"]
    text_input = [b for b in view["blocks"] if b.get("block_id") == PROMPT_TEXT_BLOCK][0]["element"]
    assert text_input["multiline"] is True and text_input["initial_value"] == live.text

    submitted = {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"]}
    values = {
        PROMPT_TEXT_BLOCK: {PROMPT_TEXT_ACTION: {"type": "plain_text_input", "value": "Plan in at most two steps."}},
        PROMPT_NOTE_BLOCK: {PROMPT_NOTE_ACTION: {"type": "plain_text_input", "value": "shorter plans"}},
    }
    refused = await slack.submit_view(submitted, values, user="U2")
    assert refused.json()["response_action"] == "errors"
    assert (await slack.service.runner.prompts.get("planner")).version == live.version

    saved = await slack.submit_view(submitted, values, user="UEDITOR")
    assert saved.status_code == 200 and not saved.content
    now = await slack.service.runner.prompts.get("planner")
    assert (now.version, now.text, now.note, now.author) == (
        live.version + 1,
        "Plan in at most two steps.",
        "shorter plans",
        "UEDITOR",
    )
    entry = (await recent_audit(slack.service.sessions, 1))[0]
    assert (entry.actor, entry.action, entry.before, entry.after) == (
        "UEDITOR",
        "prompt.edit",
        live.text,
        "Plan in at most two steps.",
    )
    confirmation = (await slack.slack.wait_for("chat.postEphemeral", user="UEDITOR"))[-1]
    assert confirmation["channel"] == "C7" and f"v{live.version + 1} is live" in confirmation["text"]

    # The same form submitted again started from a version that is no longer live: refused, nothing saved.
    stale = await slack.submit_view(submitted, values, user="UEDITOR")
    assert "became live while you edited" in str(stale.json()["errors"])
    assert (await slack.service.runner.prompts.get("planner")).version == live.version + 1
