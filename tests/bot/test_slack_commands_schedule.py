"""``/schedule add|list|remove|run`` from Slack against the scheduler ``serve`` starts, with its one permission rule:
channel schedules are for editors and admins; anyone may manage the schedules that post to their own DM."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.slack.audit import recent_audit
from tests.agents.conftest import brain
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture
async def slack(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str
) -> AsyncIterator[RuntimeSlack]:
    scripted_model.responder = brain(act_default="Two incidents were opened since yesterday.")
    slack_api.user_timezones.update({"UEDITOR": "Europe/Berlin", "U2": "America/New_York"})
    async with slack_on_runtime(slack_api, scripted_model, database_url) as harness:
        yield harness


def _added_id(reply: str) -> int:
    found = re.match(r"Scheduled \*#(\d+)\*", reply)
    assert found is not None, reply
    return int(found.group(1))


async def test_editor_adds_by_phrase_and_cron_in_their_time_zone_lists_runs_and_removes(slack: RuntimeSlack) -> None:
    schedules = slack.channels.scheduling.schedules
    assert schedules is not None
    phrase = await slack.run_command(
        "/schedule",
        'add "every weekday at 09:00" <#C0OPS|ops> Summarise incidents opened since yesterday',
        user="UEDITOR",
    )
    assert "`every weekday at 09:00` (0 9 * * mon-fri, Europe/Berlin) in <#C0OPS>" in phrase
    cron = await slack.run_command(
        "/schedule", "add 30 8 * * 1 <#C0OPS|ops> Weekly digest of the on-call log", user="UEDITOR"
    )
    assert "`30 8 * * 1` (30 8 * * mon, Europe/Berlin) in <#C0OPS>" in cron
    phrase_id, cron_id = _added_id(phrase), _added_id(cron)
    added = {entry.schedule.id: entry.schedule for entry in await schedules.store.list(owner="UEDITOR")}
    assert added[phrase_id].instruction == "Summarise incidents opened since yesterday"
    assert (added[cron_id].cron, added[cron_id].timezone, added[cron_id].channel) == (
        "30 8 * * mon",
        "Europe/Berlin",
        "C0OPS",
    )

    listed = await slack.run_command("/schedule", "list", user="U2")  # reading is open to everyone
    assert f"*#{phrase_id}* `every weekday at 09:00` in <#C0OPS>" in listed and "never run" in listed

    # run: acknowledged at once, the result posted in the channel as a new top-level message, then the outcome.
    acknowledged = await slack.command("/schedule", f"run {phrase_id}", user="UEDITOR")
    assert acknowledged.json()["text"] == f"Running schedule {phrase_id} now; I will tell you here how it went."
    outcome = await slack.reply(len(slack.slack.responses) + 1)
    assert outcome["text"].startswith(f"Schedule *#{phrase_id}* ran and <https://example.slack.com/archives/C0OPS/")
    post = slack.slack.posted("C0OPS")[-1]
    assert "thread_ts" not in post and "Two incidents were opened since yesterday." in post["text"]
    assert "✅ succeeded" in await slack.run_command("/schedule", "list", user="UEDITOR")

    removed = await slack.run_command("/schedule", f"remove {cron_id}", user="UADMIN")
    assert removed == f"Removed schedule *#{cron_id}* (`30 8 * * 1` in <#C0OPS>)."
    assert cron_id not in {entry.schedule.id for entry in await schedules.store.list()}
    audit = await recent_audit(slack.service.sessions, 3)
    assert [(entry.actor, entry.action, entry.target) for entry in audit] == [
        ("UADMIN", "schedule.remove", f"schedule #{cron_id}"),
        ("UEDITOR", "schedule.add", f"schedule #{cron_id}"),
        ("UEDITOR", "schedule.add", f"schedule #{phrase_id}"),
    ]
    assert audit[0].after is None and "Weekly digest of the on-call log" in (audit[0].before or "")


async def test_non_editor_may_manage_only_their_own_dm_schedules(slack: RuntimeSlack) -> None:
    schedules = slack.channels.scheduling.schedules
    assert schedules is not None
    channel_schedule = _added_id(
        await slack.run_command("/schedule", 'add "hourly" <#C0OPS|ops> Check the queue depth', user="UEDITOR")
    )

    refused = await slack.command("/schedule", 'add "every weekday at 9:00" <#C0OPS|ops> Post a report', user="U2")
    assert refused.json()["response_type"] == "ephemeral"
    assert "only prompt editors and admins may use it" in refused.json()["text"]
    assert '`/schedule add "WHEN" me INSTRUCTION`' in refused.json()["text"]
    refused_remove = await slack.command("/schedule", f"remove {channel_schedule}", user="U2")
    assert "only prompt editors and admins may use it" in refused_remove.json()["text"]
    refused_run = await slack.run_command("/schedule", f"run {channel_schedule}", user="U2")
    assert "only editors and admins may run schedules that post to a channel" in refused_run
    assert {entry.schedule.owner for entry in await schedules.store.list()} == {"UEDITOR"}

    mine = await slack.run_command("/schedule", "add “every monday 8:30” me Remind me of my open tickets", user="U2")
    own_id = _added_id(mine)
    assert "(30 8 * * mon, America/New_York) in <@U2>" in mine
    own = await schedules.store.get(own_id)
    assert (own.owner, own.channel, schedules.store.is_personal(own)) == ("U2", "U2", True)

    assert f"*#{own_id}*" in await slack.run_command("/schedule", "list", user="U2")
    assert f"*#{own_id}*" not in await slack.run_command("/schedule", "list", user="U3")  # private to its owner
    assert "Anyone for their own DM" not in (await slack.command("/schedule", "help", user="U2")).json()["text"]
    assert "anyone for their own DM" in (await slack.command("/schedule", "help", user="U2")).json()["text"]

    others = await slack.command("/schedule", f"remove {own_id}", user="U3")
    assert "only prompt editors and admins may use it" in others.json()["text"]
    removed = await slack.run_command("/schedule", f"remove {own_id}", user="U2")
    assert removed.startswith(f"Removed schedule *#{own_id}*")
    assert (await recent_audit(slack.service.sessions, 1))[0].actor == "U2"


async def test_bad_calls_get_usage_help_and_the_accepted_forms(slack: RuntimeSlack) -> None:
    too_short = await slack.command("/schedule", 'add "every weekday" <#C0OPS|ops>', user="UEDITOR")
    assert too_short.json()["text"] == 'Usage: `/schedule add "WHEN" #channel|me INSTRUCTION`'
    unknown_phrase = await slack.run_command("/schedule", 'add "now and then" <#C0OPS|ops> Do it', user="UEDITOR")
    assert "every weekday at 9" in unknown_phrase
    plain_channel = await slack.run_command("/schedule", 'add "hourly" ops Do it', user="UEDITOR")
    assert "expected WHEN, then the channel picked with #channel" in plain_channel
    missing = await slack.run_command("/schedule", "remove 999", user="UEDITOR")
    assert "there is no schedule #999" in missing
    not_an_id = await slack.run_command("/schedule", "run next", user="UEDITOR")
    assert "`next` is not a schedule id" in not_an_id
    unknown = await slack.command("/schedule", "pause 1", user="UEDITOR")
    assert "Unknown subcommand `pause`" in unknown.json()["text"] and "/schedule list" in unknown.json()["text"]


async def test_text_echoed_in_an_ephemeral_command_reply_is_inert(slack: RuntimeSlack) -> None:
    before = len(slack.slack.responses)
    acknowledged = await slack.command("/schedule", "run <!channel>", user="UEDITOR")
    assert "<!channel>" not in acknowledged.json()["text"] and "&lt;!channel&gt;" in acknowledged.json()["text"]
    reply = await slack.reply(before + 1)
    assert reply["response_type"] == "ephemeral"
    assert "<!channel>" not in reply["text"] and "`&lt;!channel&gt;` is not a schedule id" in reply["text"]
