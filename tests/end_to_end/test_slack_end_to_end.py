"""Slack as a user meets it: a question in a channel or a DM answered by the real agent from the synced wiki,
with sources, feedback buttons and the prompt version; ratings land on the trace; restricted pages stay with
their readers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg

from bot.slack.ratings import find_rating
from bot.slack.tables import SlackFeedback
from tests.bot.slack_runtime_harness import RuntimeSlack
from tests.end_to_end.conftest import CODE_WORD, RUNBOOK_PAGE, SECURITY_USER, VPN_PAGE, WIKI_URL, model_saw
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import BOT_USER_ID


def _actions(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [element for b in answer["blocks"] if b["type"] == "actions" for element in b["elements"]]


def _section_text(answer: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in answer["blocks"] if b["type"] == "section")


def _footer(answer: dict[str, Any]) -> str:
    return str([b for b in answer["blocks"] if b["type"] == "context"][-1]["elements"][0]["text"])


async def _stored_rating(switchboard: RuntimeSlack, trace_id: str, user: str) -> SlackFeedback | None:
    """The rating once the click's handler (which acknowledges first) has stored it."""
    for _ in range(250):
        rating = await find_rating(switchboard.service.sessions, trace_id, user)
        if rating is not None:
            return rating
        await asyncio.sleep(0.02)
    return None


async def test_a_mention_is_answered_in_thread_from_the_wiki_and_a_thumbs_up_is_stored(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    live = (await switchboard.service.runner.prompts.get("answer")).version
    await switchboard.mention("How do I rotate the VPN certificate?", ts="100.000001")
    answer = await switchboard.answer_of("100.000001")

    assert switchboard.slack.posted("C1")[0]["thread_ts"] == "100.000001"  # answered in the question's thread
    assert "nwvpn cert renew" in _section_text(answer)
    assert f"<{WIKI_URL}{VPN_PAGE}" in json.dumps(answer["blocks"])  # the page's absolute URL as a source link
    assert f"answer v{live}" in _footer(answer)
    [correct] = _actions(answer)
    assert correct["action_id"] == "curated_open"
    trace_id = correct["value"]
    [thumbs] = next(b for b in answer["blocks"] if b["type"] == "context_actions")["elements"]
    assert (thumbs["positive_button"]["value"], thumbs["negative_button"]["value"]) == (
        f"up:{trace_id}",
        f"down:{trace_id}",
    )
    trace = await switchboard.service.runner.traces.get(trace_id)
    assert trace is not None and trace.question == "How do I rotate the VPN certificate?"
    assert model_saw(scripted_model, "nwvpn cert renew")  # the model was shown the synced page

    response = await switchboard.click("feedback", f"up:{trace_id}", user="U2")
    assert response.status_code == 200
    rating = await _stored_rating(switchboard, trace_id, "U2")
    assert rating is not None and rating.rating == 1 and rating.prompt_versions["answer"] == live
    assert any(url.startswith(f"{WIKI_URL}{VPN_PAGE}") for url in rating.source_urls)
    stats = await switchboard.run_command("/prompt", "stats answer", user="U2")
    assert f"• `v{live}`: :thumbsup: 1 · :thumbsdown: 0 · 100% helpful" in stats


async def test_a_security_reader_sees_the_restricted_page_in_a_dm_but_not_in_a_shared_channel(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    question = "What code word do I give during a security incident?"
    dm = {"type": "message", "channel_type": "im", "user": SECURITY_USER, "channel": "D0SEC", "ts": "200.000001"}
    await switchboard.event({**dm, "text": question})
    answer = await switchboard.answer_of("200.000001")
    assert model_saw(scripted_model, CODE_WORD)
    assert CODE_WORD in _section_text(answer) and f"{WIKI_URL}{RUNBOOK_PAGE}" in json.dumps(answer["blocks"])

    # A channel of security people (and the bot, a member of every channel it answers in) may use it too.
    scripted_model.requests.clear()
    switchboard.slack.channel_members["C0SEC"] = [SECURITY_USER, BOT_USER_ID]
    await switchboard.mention(question, user=SECURITY_USER, channel="C0SEC", ts="201.000001")
    await switchboard.answer_of("201.000001")
    assert model_saw(scripted_model, CODE_WORD)

    scripted_model.requests.clear()
    switchboard.slack.channel_members["C0MIXED"] = [SECURITY_USER, "U2", BOT_USER_ID]  # U2: not in security
    await switchboard.mention(question, user=SECURITY_USER, channel="C0MIXED", ts="202.000001")
    shared = await switchboard.answer_of("202.000001")
    assert scripted_model.requests, "the shared-channel question reached the model"
    assert not model_saw(scripted_model, CODE_WORD)
    assert not model_saw(scripted_model, "Incident response runbook")
    assert CODE_WORD not in json.dumps(shared) and RUNBOOK_PAGE not in json.dumps(shared)


async def test_the_trace_an_answer_s_buttons_point_at_is_stored_before_the_answer_is_posted(
    switchboard: RuntimeSlack, database_url: str
) -> None:
    stored_when_posted: dict[str, bool] = {}

    def check_trace(params: dict[str, Any]) -> None:
        # Runs inside the fake Slack the moment the answer arrives, before it is acknowledged.
        for block in params.get("blocks") or []:
            if block["type"] == "actions":
                trace_id = block["elements"][0]["value"]
                with psycopg.connect(database_url) as connection:
                    found = connection.execute("SELECT 1 FROM agent_traces WHERE trace_id = %s", (trace_id,))
                    stored_when_posted[trace_id] = found.fetchone() is not None

    switchboard.slack.observe("chat.update", check_trace)
    switchboard.slack.observe("chat.postMessage", check_trace)
    await switchboard.mention("How do I rotate the VPN certificate?", ts="300.000001")
    answer = await switchboard.answer_of("300.000001")

    [correct] = _actions(answer)
    assert stored_when_posted == {correct["value"]: True}
