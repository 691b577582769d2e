"""Hang-up answers Twilio at once and queues the intake for a worker; what a dead worker, a crash or Slack loses is
filed and posted once all the same."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import PromptStore
from bot import create_slack_client
from bot.phone import CallStore, PhoneConfig, PhoneLine
from bot.phone.tables import PhoneIntake
from testing_support.agent_runner import ScriptedAgentRunner
from testing_support.waiting import eventually
from tests.bot.job_harness import settle, working_jobs
from tests.bot.phone_calls import (
    CALLER,
    INTAKE_JSON,
    LINE,
    TOKEN,
    phone_settings,
    posts_about,
    running_phone_line,
)
from tests.bot.slack_runtime_harness import slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply
from tests.fakes.slack_api import FakeSlackApi

# Generous bounds for background work to settle; a test only waits this long when it is about to fail.
SETTLE_SECONDS = 30.0


async def posted_intake(store: CallStore, call_sid: str) -> PhoneIntake:
    """The call's intake once its Slack post is recorded (polled; fails after ``SETTLE_SECONDS``)."""

    async def posted() -> PhoneIntake | None:
        intake = await store.get_intake(call_sid)
        return intake if intake is not None and intake.slack_ts else None

    intake = await eventually(posted, what=f"the intake for {call_sid} to be posted", within_seconds=SETTLE_SECONDS)
    assert intake is not None
    return intake


@pytest.fixture
def db(database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {"database_url": database_url, "engine": engine, "sessions": sessions}


async def test_the_status_callback_answers_before_a_slow_intake_model_finishes(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The summary model does not answer until the test lets it.
    model_may_answer = threading.Event()

    def slow_summary(body: dict[str, Any]) -> ScriptedReply:
        model_may_answer.wait(SETTLE_SECONDS)
        return ScriptedReply(text=json.dumps(INTAKE_JSON))

    scripted_model.responder = slow_summary
    settings = phone_settings(slack_api, scripted_model)
    try:
        async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, line):
            call = twilio.new_call()
            await twilio.dial(call)
            await twilio.say(call, "How many vacation days do I get?")
            ended = await twilio.hang_up(call)
            assert ended.status == 200 and ended.names() == [], "Twilio gets an empty TwiML answer at once"
            assert await CallStore(sessions).get_intake(call) is None, "the summary is still being written"
            repeated = await twilio.hang_up(call)
            assert repeated.status == 200

            model_may_answer.set()
            await settle(line.intakes.queue)
    finally:
        model_may_answer.set()

    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None and intake.summary_mode == "model"
    assert intake.caller_name == "Dana Whitfield" and intake.slack_ts
    [post] = posts_about(slack_api, call)
    assert post["channel"] == "C0INTAKE"


async def test_an_intake_whose_worker_stops_mid_summary_is_filed_by_the_next_worker(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    model_may_answer = threading.Event()

    def slow_summary(body: dict[str, Any]) -> ScriptedReply:
        model_may_answer.wait(SETTLE_SECONDS)
        return ScriptedReply(text=json.dumps(INTAKE_JSON))

    scripted_model.responder = slow_summary
    settings = phone_settings(slack_api, scripted_model)
    store = CallStore(sessions)
    try:
        async with running_phone_line(settings, ScriptedAgentRunner(), work_jobs=False, **db) as (twilio, line):
            call = twilio.new_call()
            await twilio.dial(call)
            await twilio.say(call, "How many vacation days do I get?")
            assert (await twilio.hang_up(call)).status == 200
            # A worker takes the intake and is stopped (a deploy) while the summary is being written.
            async with working_jobs(line.intakes.queue, line.intakes.handlers()):
                await eventually(lambda: scripted_model.requests, what="the summary to be asked for")
            assert await store.get_intake(call) is None
            model_may_answer.set()
            # The next worker files it, once.
            async with working_jobs(line.intakes.queue, line.intakes.handlers()):
                intake = await posted_intake(store, call)
                await settle(line.intakes.queue)
    finally:
        model_may_answer.set()

    assert intake.summary_mode == "model"
    assert len(posts_about(slack_api, call)) == 1


async def test_a_call_ended_without_an_intake_is_filed_by_the_catch_up(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    scripted_model.responder = lambda body: ScriptedReply(text=json.dumps(INTAKE_JSON))
    settings = phone_settings(slack_api, scripted_model)
    store = CallStore(sessions)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, line):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "How many vacation days do I get?")
        # The process died right after storing the call's end: no intake was queued.
        await store.end_call(call, "completed")
        assert await store.get_intake(call) is None

        # Calls that ended before the catch-up's window are left alone.
        assert await line.intakes.queue_pending(window=timedelta(0)) == (0, 0)
        await settle(line.intakes.queue)
        assert await store.get_intake(call) is None

        assert await line.intakes.queue_pending() == (1, 0)
        await settle(line.intakes.queue)
        # A second start finds nothing left to do.
        assert await line.intakes.queue_pending() == (0, 0)

    intake = await store.get_intake(call)
    assert intake is not None and intake.reason == INTAKE_JSON["reason"] and intake.slack_ts
    assert "How many vacation days do I get?" in scripted_model.requests[0]["messages"][1]["content"]
    assert len(posts_about(slack_api, call)) == 1


async def test_a_post_slack_refused_is_retried_and_posted_once(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None)
    store = CallStore(sessions)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, line):
        slack_api.fail("chat.postMessage")
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "My badge stopped working this morning")
        await twilio.hang_up(call)
        intake = await posted_intake(store, call)

    assert len(slack_api.calls_to("chat.postMessage", status=500)) == 1
    [post] = posts_about(slack_api, call)
    assert intake.slack_ts in slack_api.posted_ts()
    assert "My badge stopped working this morning" in json.dumps(post)


async def test_an_intake_whose_posts_were_given_up_is_posted_once_by_concurrent_catch_ups(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None)
    store = CallStore(sessions)
    async with running_phone_line(settings, ScriptedAgentRunner(), work_jobs=False, **db) as (twilio, line):
        slack_api.fail("chat.postMessage")
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "My badge stopped working this morning")
        await twilio.hang_up(call)
        # A worker that gives a job up after one attempt: the post fails and is not retried.
        async with working_jobs(line.intakes.queue, line.intakes.handlers(), max_attempts=1):
            await settle(line.intakes.queue)
        stored = await store.get_intake(call)
        assert stored is not None and stored.slack_ts is None, "stored, but the post failed"
        assert posts_about(slack_api, call) == []

        # Two replicas start at once and both catch up; a worker runs what they queued.
        other_replica = PhoneLine(
            PhoneConfig.from_settings(settings),
            sessions,
            runner=None,
            chat_model=None,
            slack=create_slack_client(settings),
            prompts=PromptStore(sessions),
            queue=line.intakes.queue,
        )
        await asyncio.gather(line.intakes.queue_pending(), other_replica.intakes.queue_pending())
        await other_replica.aclose()
        async with working_jobs(line.intakes.queue, line.intakes.handlers()):
            await settle(line.intakes.queue)

    [post] = posts_about(slack_api, call)
    intake = await store.get_intake(call)
    assert intake is not None and intake.slack_channel == "C0INTAKE"
    assert intake.slack_ts in slack_api.posted_ts()
    assert "My badge stopped working this morning" in json.dumps(post)


async def test_starting_the_service_catches_up_on_intakes_in_the_background(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    scripted_model.responder = lambda body: ScriptedReply(text=json.dumps(INTAKE_JSON))
    store = CallStore(sessions)
    # A call that a crashed replica ended without filing its intake.
    call = "CA" + uuid.uuid4().hex
    await store.open_call(call, CALLER, LINE)
    await store.add_turn(call, "caller", "How many vacation days do I get?")
    await store.end_call(call, "completed")

    async with slack_on_runtime(
        slack_api,
        scripted_model,
        database_url,
        sync_overdue_on_start=False,
        twilio_auth_token=TOKEN,
        intake_channel="C0INTAKE",
    ):
        intake = await posted_intake(store, call)

    [post] = posts_about(slack_api, call)
    assert post["channel"] == "C0INTAKE" and intake.reason == INTAKE_JSON["reason"]
    assert intake.slack_ts in slack_api.posted_ts()
