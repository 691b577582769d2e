"""The schedule API against real PostgreSQL: validation, permissions, listing and config-file upserts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import (
    ScheduleInputError,
    ScheduleNotFoundError,
    SchedulePermissionError,
    SchedulePhraseError,
)
from agents.schedules import ScheduleDeclaration, ScheduleStore
from bot.slack.schedule_destinations import SlackScheduleDestinations

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # a Saturday


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> ScheduleStore:
    return ScheduleStore(sessions, SlackScheduleDestinations(), default_timezone="UTC", clock=lambda: NOW)


async def test_an_editor_creates_a_channel_schedule_in_their_time_zone(store: ScheduleStore) -> None:
    schedule = await store.add(
        when="every weekday at 09:00",
        channel="C0OPS",
        instruction="Summarise incidents opened since yesterday",
        owner="UEDITOR",
        timezone="Europe/Berlin",
        roles={"editor"},
    )
    assert (schedule.owner, schedule.channel, schedule.origin) == ("UEDITOR", "C0OPS", "chat")
    assert schedule.cron == "0 9 * * mon-fri" and schedule.timezone == "Europe/Berlin"

    [listing] = await store.list(channel="C0OPS")
    assert listing.schedule == schedule
    assert listing.next_run == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
    assert listing.last_run is None


async def test_a_non_editor_may_not_create_a_channel_schedule(store: ScheduleStore) -> None:
    with pytest.raises(SchedulePermissionError, match="only editors and admins"):
        await store.add(when="hourly", channel="C0GENERAL", instruction="Post a joke", owner="UPLAIN")
    assert await store.list(channel="C0GENERAL") == []


async def test_an_owner_manages_their_own_dm_schedule_without_a_role(store: ScheduleStore) -> None:
    schedule = await store.add(
        when="every monday 8:30", channel="D0ALICE", instruction="What is on my plate?", owner="UALICE"
    )
    assert store.is_personal(schedule)
    assert (await store.authorize_run(schedule.id, by="UALICE")).id == schedule.id
    with pytest.raises(SchedulePermissionError):
        await store.remove(schedule.id, by="UMALLORY")
    with pytest.raises(SchedulePermissionError):
        await store.authorize_run(schedule.id, by="UMALLORY")
    await store.remove(schedule.id, by="UALICE")
    assert await store.list(owner="UALICE") == []
    with pytest.raises(ScheduleNotFoundError):
        await store.get(schedule.id)


async def test_only_editors_and_admins_remove_channel_schedules(store: ScheduleStore) -> None:
    schedule = await store.add(
        when="daily at noon", channel="C0LUNCH", instruction="Lunch menu", owner="UADMIN", roles={"admin"}
    )
    with pytest.raises(SchedulePermissionError):
        await store.remove(schedule.id, by="UADMIN")  # the owner, but without their role this time
    removed = await store.remove(schedule.id, by="UEDITOR", roles={"editor"})
    assert removed.id == schedule.id
    assert await store.list(channel="C0LUNCH") == []


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"when": "whenever"}, SchedulePhraseError),
        ({"timezone": "Mars/Olympus"}, ScheduleInputError),
        ({"channel": "#ops"}, ScheduleInputError),
        ({"instruction": "   "}, ScheduleInputError),
    ],
)
async def test_bad_input_is_refused_with_a_reason(
    store: ScheduleStore, arguments: dict[str, str], error: type[Exception]
) -> None:
    values = {"when": "hourly", "channel": "C0OPS", "instruction": "Check", "owner": "UEDITOR", "timezone": "UTC"}
    with pytest.raises(error):
        await store.add(**{**values, **arguments}, roles={"editor"})  # type: ignore[arg-type]


async def test_run_history_and_last_outcome(store: ScheduleStore) -> None:
    schedule = await store.add(when="hourly", channel="D0BOB", instruction="Status?", owner="UBOB")
    first = await store.start_run(schedule.id, NOW, "scheduled")
    await store.finish_run(first.id, status="failed", error="the model is down")
    second = await store.start_run(schedule.id, NOW.replace(hour=13), "scheduled")
    await store.finish_run(second.id, status="succeeded", trace_id="t-2", message_channel="D0BOB", message_ts="1.2")

    history = await store.history(schedule.id)
    assert [run.status for run in history] == ["succeeded", "failed"]
    assert history[1].error == "the model is down"
    [listing] = await store.list(owner="UBOB")
    assert listing.last_run is not None and listing.last_run.trace_id == "t-2"


def declaration(**overrides: str) -> ScheduleDeclaration:
    values = {
        "when": "every weekday at 9",
        "channel": "C0CONFIG",
        "instruction": "Daily digest",
        "owner": "UOPS",
        "timezone": "America/New_York",
    }
    return ScheduleDeclaration(**{**values, **overrides})


async def test_config_schedules_are_upserted_idempotently(store: ScheduleStore) -> None:
    first = await store.sync_declarations([declaration(), declaration(name="weekly", when="every monday 8:00")])
    assert [schedule.origin for schedule in first] == ["config", "config"]
    version = await store.version()

    again = await store.sync_declarations([declaration(), declaration(name="weekly", when="every monday 8:00")])
    assert [schedule.id for schedule in again] == [schedule.id for schedule in first]
    assert await store.version() == version  # nothing changed, so replicas need not reload

    edited = await store.sync_declarations([declaration(), declaration(name="weekly", when="every tuesday 8:00")])
    assert [schedule.id for schedule in edited] == [schedule.id for schedule in first]
    assert edited[1].cron == "0 8 * * tue"

    await store.sync_declarations([declaration()])  # "weekly" removed from the config file
    listed = {listing.schedule.id: listing.schedule.enabled for listing in await store.list(channel="C0CONFIG")}
    assert listed == {first[0].id: True, first[1].id: False}
    assert [schedule.id for schedule in await store.enabled_schedules() if schedule.origin == "config"] == [first[0].id]


def test_config_declarations_are_validated_when_settings_load() -> None:
    with pytest.raises(ValueError, match="Accepted forms"):
        declaration(when="now and then")
    with pytest.raises(ValueError, match="time zone"):
        declaration(timezone="Nowhere/Special")
