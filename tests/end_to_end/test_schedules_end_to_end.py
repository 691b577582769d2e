"""Scheduled runs as a channel meets them: an occurrence fired by the running scheduler posts the real agent's answer
from the synced wiki as a new message, records the run with its trace, and reads only what every member may read."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from bot.scheduling import ScheduleService, schedule_job_key
from tests.bot.slack_runtime_harness import RuntimeSlack
from tests.end_to_end.conftest import CODE_WORD, SECURITY_USER, VPN_PAGE, WIKI_URL, model_saw
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import BOT_USER_ID

INCIDENT_QUESTION = "What code word do I give during a security incident?"
# Never due while a test runs (3:00 on 29 February), so the only runs are the occurrences the tests fire.
NOT_DUE = "0 3 29 2 *"


def _schedules(switchboard: RuntimeSlack) -> ScheduleService:
    schedules = switchboard.channels.scheduling.schedules
    assert schedules is not None, "start_channels built the schedule API over the real runtime"
    return schedules


async def _fire(switchboard: RuntimeSlack, schedule_id: int, fire_time: datetime) -> None:
    """One occurrence, as APScheduler would fire it on the leader."""
    scheduler = switchboard.channels.scheduling.scheduler
    assert await scheduler.check_leadership()
    assert await scheduler.fire(schedule_job_key(schedule_id), fire_time) == "queued"
    await switchboard.settle()  # a worker runs it


def _now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def test_a_fired_schedule_posts_the_agents_answer_with_its_source_and_records_the_run(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    switchboard.slack.channel_members["C0OPS"] = ["UEDITOR", "U2"]
    schedules = _schedules(switchboard)
    listing = await schedules.add(
        when=NOT_DUE,
        channel="C0OPS",
        instruction="Summarise how to rotate the VPN certificate",
        owner="UEDITOR",
        roles=switchboard.service.settings.roles_of("UEDITOR"),
    )
    fire_time = _now()
    await _fire(switchboard, listing.schedule.id, fire_time)

    [message] = switchboard.slack.posted("C0OPS")
    assert "thread_ts" not in message  # a new top-level message
    assert "nwvpn cert renew" in message["text"]
    assert f"<{WIKI_URL}{VPN_PAGE}" in message["text"]  # the synced page as a source link
    [run] = await schedules.store.history(listing.schedule.id)
    assert (run.status, run.trigger, run.fire_time) == ("succeeded", "scheduled", fire_time)
    assert run.message_channel == "C0OPS" and run.message_ts == switchboard.slack.posted_ts()[-1]
    assert run.trace_id is not None
    trace = await switchboard.service.runner.traces.get(run.trace_id)
    assert trace is not None and trace.question == "Summarise how to rotate the VPN certificate"
    assert model_saw(scripted_model, "nwvpn cert renew")


async def test_a_run_reads_only_what_every_channel_member_may_read(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    schedules = _schedules(switchboard)
    roles = switchboard.service.settings.roles_of(SECURITY_USER)
    # As in Slack, the bot is a member of every channel it posts to; it reads nothing itself.
    switchboard.slack.channel_members["C0SEC"] = [SECURITY_USER, BOT_USER_ID]
    switchboard.slack.channel_members["C0MIXED"] = [SECURITY_USER, "U2", BOT_USER_ID]  # U2: not in security
    in_security = await schedules.add(
        when=NOT_DUE, channel="C0SEC", instruction=INCIDENT_QUESTION, owner=SECURITY_USER, roles=roles
    )
    in_mixed = await schedules.add(
        when=NOT_DUE, channel="C0MIXED", instruction=INCIDENT_QUESTION, owner=SECURITY_USER, roles=roles
    )

    await _fire(switchboard, in_security.schedule.id, _now())
    assert model_saw(scripted_model, CODE_WORD)
    assert CODE_WORD in switchboard.slack.posted("C0SEC")[0]["text"]

    scripted_model.requests.clear()
    await _fire(switchboard, in_mixed.schedule.id, _now())
    assert scripted_model.requests, "the run in the mixed channel reached the model"
    assert not model_saw(scripted_model, CODE_WORD)
    [posted] = switchboard.slack.posted("C0MIXED")
    assert CODE_WORD not in json.dumps(posted)
    [run] = await schedules.store.history(in_mixed.schedule.id)
    assert run.status == "succeeded" and run.trace_id is not None


async def test_a_schedule_added_with_slash_schedule_is_picked_up_and_runs_when_it_fires(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    reply = await switchboard.run_command(
        "/schedule", f'add "{NOT_DUE}" <#C0DIGEST|digest> How do I rotate the VPN certificate', user="UEDITOR"
    )
    added = re.match(r"Scheduled \*#(\d+)\*", reply)
    assert added is not None, reply

    await _fire(switchboard, int(added.group(1)), _now())
    [message] = switchboard.slack.posted("C0DIGEST")
    assert "thread_ts" not in message and f"<{WIKI_URL}{VPN_PAGE}" in message["text"]
    listing = await switchboard.run_command("/schedule", "list", user="U2")
    assert f"*#{added.group(1)}*" in listing and "succeeded" in listing
