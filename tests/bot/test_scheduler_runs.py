"""What a scheduled run does for people: posts the agent's answer to the channel, records it, reports failures,
and what ``/schedule`` replies look like. Slack is a fake Web API on loopback; the agent is scripted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentAnswer, AgentRequest, Citation, ModelUnavailableError, SchedulePermissionError
from agents.schedules import INTERRUPTED_REASON, ScheduleStore
from bot import Service, Settings, check_health, create_slack_client
from bot.scheduling import (
    ScheduledRunExecutor,
    ScheduleService,
    build_scheduling,
    schedule_job_key,
)
from bot.slack.blocks import format_schedule_list
from bot.slack.schedule_destinations import SlackScheduleDestinations
from knowledge import AccessList
from testing_support.agent_runner import ScriptedAgentRunner
from tests.fakes.slack_api import BOT_TOKEN, BOT_USER_ID, HOSTILE, LIVE_MARKUP, FakeSlackApi


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi().start()
    yield api
    api.stop()


@pytest.fixture
def slack(fake_slack: FakeSlackApi) -> AsyncWebClient:
    fake_slack.reset()
    return AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.api_url)


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> ScheduleStore:
    return ScheduleStore(sessions, SlackScheduleDestinations())


def fail_with_model_down(request: AgentRequest) -> object:
    raise ModelUnavailableError("the model endpoint kept failing (503); check LLM_BASE_URL")


async def test_a_run_posts_the_answer_to_the_channel_and_records_it(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    fake_slack.channel_members["C0OPS"] = ["UED", "UANN", "UBEN"]
    runner = ScriptedAgentRunner()
    executor = ScheduledRunExecutor(store, runner, slack)
    schedule = await store.add(
        when="every weekday at 9",
        channel="C0OPS",
        instruction="Summarise incidents opened since yesterday",
        owner="UED",
        roles={"editor"},
    )
    first_fire = datetime(2026, 11, 23, 9, tzinfo=UTC)
    run = await executor.run(schedule.id, first_fire, "scheduled")
    await executor.run(schedule.id, first_fire + timedelta(days=1), "scheduled")

    assert run is not None and run.status == "succeeded"
    [message, _] = fake_slack.posted("C0OPS")
    assert "thread_ts" not in message  # a new top-level message, not a reply
    assert "Answer to: Summarise incidents opened since yesterday" in message["text"]
    assert "<https://handbook.northwind.example/README.md|Handbook>" in message["text"]
    assert run.message_channel == "C0OPS" and run.message_ts
    assert run.message_link is not None and run.message_link.startswith("https://example.slack.com/archives/C0OPS/")
    assert run.finished_at is not None and run.trace_id

    first, second = runner.requests
    assert first.thread_id != second.thread_id  # a fresh thread per run
    assert (first.asker.channel, first.asker.user_id) == ("schedule", "UED")
    assert {reader.user_id for reader in first.asker.scope.readers} == {"UED", "UANN", "UBEN"}
    [latest, earlier] = await store.history(schedule.id)
    assert latest.trace_id == run.trace_id or earlier.trace_id == run.trace_id


async def test_a_failed_run_is_recorded_and_reported_to_its_owner(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    executor = ScheduledRunExecutor(store, ScriptedAgentRunner(reply=fail_with_model_down), slack)  # type: ignore[arg-type]
    schedule = await store.add(
        when="daily at 17:45", channel="C0SUPPORT", instruction="Open tickets?", owner="UED", roles={"admin"}
    )
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 17, 45, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "failed"
    assert run.error == "the model endpoint kept failing (503); check LLM_BASE_URL"
    assert fake_slack.posted("C0SUPPORT") == []
    [report] = fake_slack.posted("UED")  # a DM to the owner
    assert f"#{schedule.id}" in report["text"] and "kept failing (503)" in report["text"]
    assert [entry.status for entry in await store.history(schedule.id)] == ["failed"]


async def test_a_run_in_a_channel_of_thousands_answers_for_every_member(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    members = [f"U{number:06d}" for number in range(5_001)]
    fake_slack.channel_members["C0ALLHANDS"] = ["UED", BOT_USER_ID, *members]
    runner = ScriptedAgentRunner()
    executor = ScheduledRunExecutor(store, runner, slack)
    schedule = await store.add(
        when="daily at 9", channel="C0ALLHANDS", instruction="News", owner="UED", roles={"editor"}
    )
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 9, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "succeeded"
    [request] = runner.requests
    scope = request.asker.scope
    assert {reader.user_id for reader in scope.readers} == {"UED", *members}
    # A page readable by everyone but the newest member must not feed a post they will read.
    assert not scope.may_read(AccessList.restricted(users=["UED", *members[:-1]]))
    assert scope.may_read(AccessList.restricted(users=["UED", *members]))
    assert len(fake_slack.calls_to("conversations.members")) == 6  # pages of 1000, cursor to cursor


async def test_a_run_whose_channel_members_cannot_be_listed_fails_and_tells_the_owner(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    fake_slack.channel_members["C0BIG"] = ["UED", *(f"U{number:06d}" for number in range(1_500))]
    fake_slack.fail("conversations.members", after=1)  # the first page comes, the second does not
    runner = ScriptedAgentRunner()
    executor = ScheduledRunExecutor(store, runner, slack)
    schedule = await store.add(when="hourly", channel="C0BIG", instruction="Status", owner="UED", roles={"editor"})
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 10, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "failed"
    assert run.error is not None and "would not list the members of channel C0BIG (internal_error)" in run.error
    assert runner.requests == []  # nobody's rights were used to answer
    assert fake_slack.posted("C0BIG") == []
    [report] = fake_slack.posted("UED")
    assert "would not list the members of channel C0BIG" in report["text"]
    assert [entry.status for entry in await store.history(schedule.id)] == ["failed"]


async def test_a_rate_limited_member_listing_is_waited_out(store: ScheduleStore, fake_slack: FakeSlackApi) -> None:
    fake_slack.reset()
    settings = Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret="secret", slack_api_url=fake_slack.api_url)
    client = create_slack_client(settings)
    assert client is not None
    fake_slack.channel_members["C0BUSY"] = ["UED", "UANN"]
    fake_slack.rate_limit("conversations.members", times=1, retry_after=0)
    runner = ScriptedAgentRunner()
    executor = ScheduledRunExecutor(store, runner, client)
    schedule = await store.add(when="hourly", channel="C0BUSY", instruction="Queue", owner="UED", roles={"editor"})
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 11, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "succeeded"
    assert len(fake_slack.calls_to("conversations.members", status=429)) == 1
    [request] = runner.requests
    assert {reader.user_id for reader in request.asker.scope.readers} == {"UED", "UANN"}


async def test_a_channel_slack_refuses_fails_the_run_with_the_reason(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    fake_slack.refuse_channels.add("C0GONE")
    executor = ScheduledRunExecutor(store, ScriptedAgentRunner(), slack)
    schedule = await store.add(when="hourly", channel="C0GONE", instruction="Ping", owner="UED", roles={"editor"})
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 10, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "failed"
    assert run.error == "Slack refused the request (channel_not_found)"
    assert run.trace_id  # the agent did answer; only posting failed
    [report] = fake_slack.posted("UED")
    assert "channel_not_found" in report["text"]


async def test_the_schedule_api_enforces_permissions_and_runs_on_demand(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    service = ScheduleService(store, ScheduledRunExecutor(store, ScriptedAgentRunner(), slack))
    with pytest.raises(SchedulePermissionError):
        await service.add(when="hourly", channel="C0ALL", instruction="Spam", owner="UPLAIN")

    listing = await service.add(
        when="every monday 8:30",
        channel="D0PLAIN",
        instruction="My open pull requests",
        owner="UPLAIN",
        timezone="America/New_York",
    )
    schedule = listing.schedule
    with pytest.raises(SchedulePermissionError):
        await service.run_now(schedule.id, by="UOTHER")
    _, run = await service.run_now(schedule.id, by="UPLAIN")
    assert run is not None and (run.status, run.trigger, run.requested_by) == ("succeeded", "manual", "UPLAIN")
    assert len(fake_slack.posted("D0PLAIN")) == 1

    text = format_schedule_list(await store.list(owner="UPLAIN"))
    assert f"*#{schedule.id}*" in text and "`every monday 8:30`" in text and "<#D0PLAIN>" in text
    assert "EST" in text or "EDT" in text  # next run in the owner's zone
    assert "succeeded" in text and run.message_link is not None and run.message_link in text

    history = await store.history(schedule.id)
    assert [entry.id for entry in history] == [run.id]
    await service.remove(schedule.id, by="UPLAIN")
    assert await store.list(owner="UPLAIN") == []


async def test_a_run_cut_short_by_shutdown_is_recorded_as_interrupted(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    runner = ScriptedAgentRunner(delay_seconds=60)
    executor = ScheduledRunExecutor(store, runner, slack)
    schedule = await store.add(
        when="hourly", channel="C0SLOW", instruction="Long report", owner="UED", roles={"editor"}
    )
    run = asyncio.create_task(executor.run(schedule.id, datetime(2026, 11, 23, 11, tzinfo=UTC), "scheduled"))
    for _ in range(500):  # until the agent is working on it
        if runner.requests:
            break
        await asyncio.sleep(0.01)

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    [entry] = await store.history(schedule.id)
    assert (entry.status, entry.error) == ("interrupted", INTERRUPTED_REASON)
    assert entry.finished_at is not None
    assert fake_slack.posted("C0SLOW") == [] and fake_slack.posted("UED") == []  # not reported as a failure


async def test_runs_left_running_by_a_dead_replica_are_marked_interrupted_at_start(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    store = ScheduleStore(sessions, SlackScheduleDestinations(), clock=lambda: now)
    schedule = await store.add(when="hourly", channel="C0DEAD", instruction="Ping", owner="UED", roles={"editor"})
    await ScheduleStore(sessions, SlackScheduleDestinations(), clock=lambda: now - timedelta(hours=3)).start_run(
        schedule.id, now - timedelta(hours=3), "scheduled"
    )
    recent = await store.start_run(schedule.id, now, "scheduled")  # may still be running on a live replica

    assert await store.interrupt_stale_runs(timedelta(hours=1)) == 1

    statuses = {entry.id: entry.status for entry in await store.history(schedule.id)}
    assert statuses[recent.id] == "running"
    assert sorted(statuses.values()) == ["interrupted", "running"]


async def test_serve_wiring_upserts_config_schedules_and_reports_the_scheduler_in_health(
    database_url: str, slack: AsyncWebClient
) -> None:
    settings = Settings(
        database_url=database_url,
        llm_provider="none",
        schedules=[
            {"when": "every weekday at 9", "channel": "C0DIGEST", "instruction": "Digest", "owner": "UOPS"},
            {"when": "hourly", "channel": "C0DIGEST", "instruction": "Queue depth", "owner": "UOPS", "name": "q"},
        ],
    )
    service = await Service.start(settings, migrate=False)
    try:
        assert (await check_health(service)).scheduler == "stopped"
        scheduling = await build_scheduling(service, agent_runner=ScriptedAgentRunner(), slack=slack)
        assert scheduling.schedules is not None
        await scheduling.start()
        try:
            assert await scheduling.scheduler.check_leadership()
            assert (await check_health(service)).scheduler == "leader"
            declared = await scheduling.schedules.store.list(channel="C0DIGEST")
            assert [(entry.schedule.origin, entry.schedule.cron) for entry in declared] == [
                ("config", "0 9 * * mon-fri"),
                ("config", "0 * * * *"),
            ]
            # A second replica starting from the same config changes nothing and stands by.
            follower = await build_scheduling(service, agent_runner=ScriptedAgentRunner(), slack=slack)
            assert await follower.schedules.store.list(channel="C0DIGEST") == declared  # type: ignore[union-attr]
            await follower.scheduler.refresh()
            assert not await follower.scheduler.check_leadership()
            assert follower.scheduler.state == "stopped"  # built, not started
            outcome = await follower.scheduler.fire(
                schedule_job_key(declared[1].schedule.id), datetime.now(UTC).replace(minute=0, second=0)
            )
            assert outcome == "not-leader"
            await follower.stop()
        finally:
            await scheduling.stop()
        assert scheduling.scheduler.state == "stopped"
    finally:
        await service.aclose()


async def test_model_text_in_a_scheduled_post_reaches_slack_inert(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    def hostile_answer(request: AgentRequest) -> AgentAnswer:
        return AgentAnswer(
            text=HOSTILE, citations=[Citation(title="Digest", url="https://wiki.example/digest")], trace_id="t1"
        )

    fake_slack.channel_members["C0NEWS"] = ["UED"]
    executor = ScheduledRunExecutor(store, ScriptedAgentRunner(reply=hostile_answer), slack)
    schedule = await store.add(when="hourly", channel="C0NEWS", instruction="News", owner="UED", roles={"editor"})
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 13, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "succeeded"
    [message] = fake_slack.posted("C0NEWS")
    section = message["blocks"][0]["text"]["text"]
    for posted in (message["text"], section):
        for live in LIVE_MARKUP:
            assert live not in posted
        assert "&lt;!channel&gt;" in posted and "&lt;@U999&gt;" in posted and "&amp; more" in posted
    assert "<https://wiki.example/digest|Digest>" in section  # the bot's own source link stays live


async def test_an_error_reason_with_model_text_reaches_the_owner_inert(
    store: ScheduleStore, slack: AsyncWebClient, fake_slack: FakeSlackApi
) -> None:
    def fail_with_hostile_reason(request: AgentRequest) -> object:
        raise ModelUnavailableError(HOSTILE)

    executor = ScheduledRunExecutor(store, ScriptedAgentRunner(reply=fail_with_hostile_reason), slack)  # type: ignore[arg-type]
    schedule = await store.add(when="hourly", channel="D0MINE", instruction="News", owner="UED", roles={"editor"})
    run = await executor.run(schedule.id, datetime(2026, 11, 23, 14, tzinfo=UTC), "scheduled")

    assert run is not None and run.status == "failed"
    [report] = fake_slack.posted("UED")
    for live in LIVE_MARKUP:
        assert live not in report["text"]
    assert "&lt;!channel&gt;" in report["text"] and "&lt;@U999&gt;" in report["text"] and "&amp; more" in report["text"]
