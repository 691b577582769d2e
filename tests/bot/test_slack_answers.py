"""Questions in Slack answered in their thread, through the real Bolt app over signed HTTP requests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer, AgentRequest, Citation
from testing_support.agent_runner import ScriptedAgentRunner
from testing_support.slack_requests import event_body, signature_headers
from tests.bot.slack_harness import running_slack
from tests.fakes.slack_api import APP_TOKEN, HOSTILE, LIVE_MARKUP, FakeSlackApi


def _with_actions(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for call in calls if any(block["type"] == "actions" for block in call.get("blocks") or [])]


async def _answer_message(slack: FakeSlackApi, channel: str = "C1") -> dict[str, Any]:
    """Wait for the message carrying the feedback buttons (the end of an answer) and return it."""
    for _ in range(500):
        found = _with_actions(slack.calls_to("chat.update") + slack.calls_to("chat.postMessage"))
        found = [call for call in found if call["channel"] == channel]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer with buttons in {channel}: {slack.calls}")


@pytest.fixture
def harness_args(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str) -> dict[str, Any]:
    return {"engine": engine, "sessions": sessions, "database_url": database_url}


async def test_mention_is_answered_in_its_thread_with_sources_footer_and_both_buttons(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    runner = ScriptedAgentRunner()
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await slack.mention("how do I deploy?", ts="100.000001")
        answer = await _answer_message(slack_api)

    working = slack_api.calls_to("chat.postMessage")[0]
    assert working["thread_ts"] == "100.000001" and "Working on it" in working["text"]
    assert answer["ts"] == slack_api.posted_ts()[0]  # the working message became the answer
    progress = slack_api.calls_to("chat.update")[0]
    assert progress["ts"] == answer["ts"] and "Searching the knowledge base" in progress["text"]
    request = runner.requests[0]
    assert request.question == "how do I deploy?"
    assert request.asker.display_name == "U1"
    assert request.thread_id == "T1:C1:100.000001"
    text = "\n".join(block["text"]["text"] for block in answer["blocks"] if block["type"] == "section")
    assert "Answer to: how do I deploy?" in text
    assert "<https://handbook.northwind.example/README.md|Handbook>" in text
    footer = [block for block in answer["blocks"] if block["type"] == "context"][0]
    assert "answer v1" in footer["elements"][0]["text"]
    [correct] = [block for block in answer["blocks"] if block["type"] == "actions"][0]["elements"]
    assert correct["action_id"] == "curated_open" and len(correct["value"]) == 32
    [thumbs] = next(block for block in answer["blocks"] if block["type"] == "context_actions")["elements"]
    assert thumbs["type"] == "feedback_buttons" and thumbs["action_id"] == "feedback"
    assert thumbs["positive_button"]["value"] == "up:" + correct["value"]
    assert thumbs["negative_button"]["value"] == "down:" + correct["value"]


async def test_socket_mode_events_are_acknowledged_and_answered_like_http_ones(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    """With SLACK_APP_TOKEN, events arrive over Slack's WebSocket instead of POST /slack/events."""
    async with running_slack(slack_api, ScriptedAgentRunner(), slack_app_token=APP_TOKEN, **harness_args) as slack:
        await slack.channel.start()
        envelope_id = slack_api.send_envelope(
            json.loads(
                event_body(
                    {
                        "type": "app_mention",
                        "user": "U1",
                        "text": "<@UBOT> where is the VPN guide?",
                        "ts": "400.000001",
                        "channel": "CSOCKET",
                    }
                )
            )
        )
        ack = await slack_api.wait_for_ack(envelope_id)
        answer = await _answer_message(slack_api, channel="CSOCKET")

    assert ack == {"envelope_id": envelope_id}
    assert slack_api.socket_connections >= 1
    assert slack_api.calls_to("apps.connections.open")  # opened with the app token (the fake checks it)
    text = "\n".join(block["text"]["text"] for block in answer["blocks"] if block["type"] == "section")
    assert "Answer to: where is the VPN guide?" in text
    assert slack_api.calls_to("chat.postMessage")[0]["thread_ts"] == "400.000001"


async def test_reply_in_an_answered_thread_continues_without_a_mention(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    runner = ScriptedAgentRunner()
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await slack.mention("what is the on-call rota?", ts="200.000001")
        await _answer_message(slack_api)
        follow_up = {"type": "message", "channel_type": "channel", "user": "U1", "channel": "C1"}
        await slack.event({**follow_up, "text": "and on weekends?", "ts": "200.000009", "thread_ts": "200.000001"})
        await slack_api.wait_for("chat.postMessage", 2)
        # Chatter in a thread the bot never answered, and the bot's own and other bots' posts, are left alone.
        await slack.event({**follow_up, "text": "unrelated", "ts": "300.000002", "thread_ts": "300.000001"})
        await slack.event({**follow_up, "user": "UBOT", "text": "mine", "ts": "200.000010", "thread_ts": "200.000001"})
        await slack.event(
            {
                **follow_up,
                "bot_id": "B2",
                "subtype": "bot_message",
                "text": "x",
                "ts": "200.11",
                "thread_ts": "200.000001",
            }
        )
        await slack.settle()

    assert [request.question for request in runner.requests] == ["what is the on-call rota?", "and on weekends?"]
    assert runner.requests[1].thread_id == runner.requests[0].thread_id
    assert all(call["thread_ts"] == "200.000001" for call in slack_api.calls_to("chat.postMessage"))


async def test_a_retried_event_is_answered_once_even_after_a_restart(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    runner = ScriptedAgentRunner()
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> where is the VPN guide?",
        "ts": "400.1",
        "channel": "C1",
    }
    event_id = "Ev" + uuid.uuid4().hex[:10]
    async with running_slack(slack_api, runner, **harness_args) as slack:
        first = await slack.event(event, event_id=event_id)
        retry = await slack.event(event, event_id=event_id, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "x"})
        await slack.settle()
    async with running_slack(slack_api, runner, **harness_args) as restarted:
        after_restart = await restarted.event(event, event_id=event_id, **{"X-Slack-Retry-Num": "2"})
        await restarted.settle()

    assert (first.status_code, retry.status_code, after_restart.status_code) == (200, 200, 200)
    assert len(runner.requests) == 1
    assert len(slack_api.calls_to("chat.postMessage")) == 1


async def test_an_acknowledgement_survives_the_database_dropping_its_connection(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    """The claimer pings nothing before use; a connection the server closed (a restart) is replaced on the spot."""
    runner = ScriptedAgentRunner()
    event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> is the wiki up?", "ts": "440.1", "channel": "C1"}
    async with running_slack(slack_api, runner, **harness_args) as slack:
        warm = await slack.event(event | {"ts": "440.0"}, event_id="Ev" + uuid.uuid4().hex[:10])
        async with harness_args["engine"].begin() as connection:
            dropped = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'switchboard-slack-ack' AND datname = current_database()"
                )
            )
        after = await slack.event(event, event_id="Ev" + uuid.uuid4().hex[:10])
        await slack.settle()

    assert dropped >= 1
    assert (warm.status_code, after.status_code) == (200, 200)
    assert sorted(request.question for request in runner.requests) == ["is the wiki up?", "is the wiki up?"]


async def test_a_retry_storm_of_one_event_queues_one_job_and_gets_one_answer(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    runner = ScriptedAgentRunner()
    event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> is the VPN down?", "ts": "450.1", "channel": "C1"}
    event_id = "Ev" + uuid.uuid4().hex[:10]
    async with running_slack(slack_api, runner, **harness_args) as slack:
        jobs_before = len(await slack.channel.queue.list_jobs(kind="slack.answer", limit=1000))
        # Slack delivers the event 20 times at once (each "retry" arriving while the others are being stored).
        storm = await asyncio.gather(
            *(slack.event(event, event_id=event_id, **({"X-Slack-Retry-Num": str(n)} if n else {})) for n in range(20))
        )
        await slack.settle()
        jobs_after = len(await slack.channel.queue.list_jobs(kind="slack.answer", limit=1000))

    assert {response.status_code for response in storm} == {200}
    assert jobs_after - jobs_before == 1
    assert len(runner.requests) == 1
    assert len(slack_api.calls_to("chat.postMessage")) == 1


async def test_a_burst_of_events_with_repeats_queues_one_job_per_event_carrying_it_whole(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    """Deliveries arriving together are claimed and queued in one batch: repeats of an event in that batch queue
    nothing, and every job carries the event (quotes and all) and its thread's lock."""
    runner = ScriptedAgentRunner()
    events = [
        {"type": "app_mention", "user": "U1", "text": f'<@UBOT> what does "on-call" mean? \\ {n}', "ts": f"460.{n}"}
        | {"channel": "C1"}
        for n in range(3)
    ]
    event_ids = ["Ev" + uuid.uuid4().hex[:10] for _ in events]
    async with running_slack(slack_api, runner, **harness_args) as slack:
        deliveries = [(event, event_id) for event, event_id in zip(events, event_ids, strict=True) for _ in range(4)]
        responses = await asyncio.gather(
            *(slack.event(event, event_id=event_id, **{"X-Slack-Retry-Num": "1"}) for event, event_id in deliveries)
        )
        locks = {f"slack-thread:T1:C1:460.{n}" for n in range(3)}
        jobs = [
            job for job in await slack.channel.queue.list_jobs(kind="slack.answer", limit=1000) if job.lock in locks
        ]
        await slack.settle()

    assert {response.status_code for response in responses} == {200}
    assert sorted(job.lock or "" for job in jobs) == sorted(locks)
    assert sorted(request.question for request in runner.requests) == [
        f'what does "on-call" mean? \\ {n}' for n in range(3)
    ]


async def test_bad_signature_and_five_minute_old_timestamp_are_refused_with_401(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    runner = ScriptedAgentRunner()
    body = event_body({"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": "500.1", "channel": "C1"})
    async with running_slack(slack_api, runner, **harness_args) as slack:
        forged = await slack.http.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": "application/json", **signature_headers(body, secret="wrong-secret")},
        )
        stale = await slack.http.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": "application/json", **signature_headers(body, timestamp=int(time.time()) - 301)},
        )
        unsigned = await slack.http.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
        garbled = await slack.http.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "0"},
        )
    assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
    assert garbled.status_code == 401  # refused, not a server error
    assert runner.requests == []


async def test_rate_limited_chat_update_is_retried_after_retry_after(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    slack_api.rate_limit("chat.update", times=1, retry_after=1)
    async with running_slack(slack_api, ScriptedAgentRunner(), **harness_args) as slack:
        await slack.mention("status of the release?", ts="600.1")
        answer = await _answer_message(slack_api)
    assert len(slack_api.calls_to("chat.update", status=429)) == 1
    assert answer["ts"] == slack_api.posted_ts()[0]


async def test_dm_uses_the_askers_scope_and_a_channel_uses_every_members(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    slack_api.channel_members["C2"] = ["U1", "U2", "UBOT"]
    runner = ScriptedAgentRunner()
    async with running_slack(slack_api, runner, **harness_args) as slack:
        dm = {
            "type": "message",
            "channel_type": "im",
            "user": "U1",
            "channel": "D1",
            "text": "my payslip?",
            "ts": "700.1",
        }
        await slack.event(dm)
        await slack.mention("team goals?", channel="C2", ts="700.2")
        chatter = {"type": "message", "channel_type": "channel", "user": "U2", "channel": "C2", "ts": "700.3"}
        await slack.event({**chatter, "text": "lunch anyone?"})  # a mentions-only channel: not a question for the bot
        everything = {"type": "message", "channel_type": "channel", "user": "U2", "channel": "CALL", "ts": "700.4"}
        await slack.event({**everything, "text": "how do I book leave?"})
        # In an answer-everything channel a mention arrives twice (message + app_mention): answered once.
        await slack.event({**everything, "ts": "700.5", "text": "<@UBOT> who approves expenses?"})
        await slack.mention("who approves expenses?", user="U2", channel="CALL", ts="700.5")
        await slack.settle()

    by_question = {request.question: request.asker for request in runner.requests}
    assert sorted(request.question for request in runner.requests) == [
        "how do I book leave?",
        "my payslip?",
        "team goals?",
        "who approves expenses?",
    ]
    dm_scope = by_question["my payslip?"].scope.readers
    assert [(reader.user_id, reader.groups) for reader in dm_scope] == [("U1", frozenset({"security"}))]
    assert [reader.user_id for reader in by_question["team goals?"].scope.readers] == ["U1", "U2"]
    assert by_question["how do I book leave?"].sources == ("handbook",)
    assert by_question["team goals?"].sources is None
    assert by_question["my payslip?"].roles == frozenset()


async def test_long_answer_is_split_into_messages_within_slacks_limits(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    paragraph = "This sentence explains one more detail of the deployment process. " * 20
    long_text = "\n\n".join(f"Step {n}. {paragraph}" for n in range(80))

    def long_answer(request: AgentRequest) -> AgentAnswer:
        return AgentAnswer(
            text=long_text,
            citations=[Citation(title="Runbook", url="https://runbook.example/deploy")],
            trace_id=uuid.uuid4().hex,
            prompt_versions={"answer": 2},
        )

    async with running_slack(slack_api, ScriptedAgentRunner(reply=long_answer), **harness_args) as slack:
        await slack.mention("explain deployment in detail", ts="800.1")
        await _answer_message(slack_api)
        await slack.settle()

    final_update = [call for call in slack_api.calls_to("chat.update") if "Working" not in call["text"]]
    follow_ups = slack_api.calls_to("chat.postMessage")[1:]
    messages = final_update + follow_ups
    assert len(messages) >= 3
    assert all(call["thread_ts"] == "800.1" for call in follow_ups)
    for message in messages:
        assert len(message["blocks"]) <= 50 and len(message["text"]) <= 40_000
        assert all(len(block["text"]["text"]) <= 3000 for block in message["blocks"] if block["type"] == "section")
    posted = " ".join(b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section")
    assert all(f"Step {n}." in posted for n in range(80))
    assert _with_actions(messages) == [messages[-1]]


async def test_model_text_in_an_answer_reaches_slack_inert_and_only_its_sources_are_links(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    def hostile_answer(request: AgentRequest) -> AgentAnswer:
        return AgentAnswer(
            text=HOSTILE + " [the runbook](https://runbook.example/deploy)",
            citations=[Citation(title="Runbook <!here>", url="https://runbook.example/deploy")],
            trace_id=uuid.uuid4().hex,
        )

    async with running_slack(slack_api, ScriptedAgentRunner(reply=hostile_answer), **harness_args) as slack:
        await slack.mention("what is new?", ts="900.1")
        answer = await _answer_message(slack_api)

    text = "\n".join(block["text"]["text"] for block in answer["blocks"] if block["type"] == "section")
    for posted in (text, answer["text"]):
        for live in LIVE_MARKUP:
            assert live not in posted
        assert "&lt;!channel&gt;" in posted and "&lt;@U999&gt;" in posted and "&amp; more" in posted
    assert "<https://runbook.example/deploy|the runbook>" in text  # the model's link to a cited source
    assert "<https://runbook.example/deploy|Runbook &lt;!here&gt;>" in text
