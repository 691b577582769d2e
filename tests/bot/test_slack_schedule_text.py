"""``/schedule add`` text parsing (``bot.slack.schedule_commands``) and the schedule messages ``bot.slack.blocks``
renders, without a Slack workspace."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents import AgentAnswer, Citation, ScheduleInputError
from agents.schedules import Schedule, ScheduleListing, ScheduleRun
from bot.slack.blocks import format_schedule_list, render_failure_report, render_run_message
from bot.slack.schedule_commands import AddCommand, parse_schedule_add

SCHEDULE = Schedule(
    id=7,
    owner="UED",
    channel="C0OPS",
    instruction="Summarise <incidents> & outages",
    when="every weekday at 09:00",
    cron="0 9 * * mon-fri",
    timezone="Europe/Berlin",
    enabled=True,
    origin="chat",
    created_at=datetime(2026, 11, 20, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '"every weekday at 09:00" <#C0OPS|ops> Summarise incidents opened since yesterday',
            AddCommand(
                when="every weekday at 09:00", channel="C0OPS", instruction="Summarise incidents opened since yesterday"
            ),
        ),
        (
            "\u201cevery monday 8:30\u201d <#C0OPS> What's open?",
            AddCommand(when="every monday 8:30", channel="C0OPS", instruction="What's open?"),
        ),
        ("hourly C0OPS Queue depth", AddCommand(when="hourly", channel="C0OPS", instruction="Queue depth")),
        (
            "0 9 * * 1-5 <#C0OPS|ops> Digest",
            AddCommand(when="0 9 * * 1-5", channel="C0OPS", instruction="Digest"),
        ),
    ],
)
def test_add_command_text_is_split_into_when_channel_and_instruction(text: str, expected: AddCommand) -> None:
    assert parse_schedule_add(text, "UED") == expected


@pytest.mark.parametrize("channel", ["me", "<@UED|ed>"])
def test_me_or_the_users_own_mention_schedules_into_their_dm(channel: str) -> None:
    assert parse_schedule_add(f'"every day at 17:45" {channel} End of day', "UED") == AddCommand(
        when="every day at 17:45", channel="UED", instruction="End of day"
    )


@pytest.mark.parametrize(
    "text",
    ['"every day at 9 #ops digest', '"every day at 9" #ops digest', '"every day at 9" <#C0OPS|ops>', ""],
)
def test_malformed_add_commands_get_the_usage(text: str) -> None:
    with pytest.raises(ScheduleInputError, match="/schedule add"):
        parse_schedule_add(text, "UED")


def test_a_run_message_carries_the_answer_its_sources_and_escapes_user_text() -> None:
    answer = AgentAnswer(
        text="Two incidents.",
        citations=[Citation(title="Runbook <db>", url="https://wiki.example/runbook")],
        trace_id="t1",
    )
    text, blocks = render_run_message(SCHEDULE, answer)
    assert text == "Two incidents.\n\nSources: <https://wiki.example/runbook|Runbook &lt;db&gt;>"
    assert "#7" in str(blocks[-1]) and "<@UED>" in str(blocks[-1])


def test_list_rows_show_next_run_in_the_owners_zone_and_the_last_outcome() -> None:
    run = ScheduleRun(
        id=1,
        schedule_id=7,
        fire_time=datetime(2026, 11, 20, 8, tzinfo=UTC),
        trigger="scheduled",
        started_at=datetime(2026, 11, 20, 8, tzinfo=UTC),
        status="failed",
        error="the model endpoint kept failing",
    )
    text = format_schedule_list(
        [ScheduleListing(schedule=SCHEDULE, next_run=datetime(2026, 11, 23, 8, tzinfo=UTC), last_run=run)]
    )
    assert text.startswith("*#7* `every weekday at 09:00` in <#C0OPS>")
    assert "Summarise &lt;incidents&gt; &amp; outages" in text
    assert "next: Mon 23 Nov 09:00 CET" in text
    assert "failed Fri 20 Nov 09:00 CET: the model endpoint kept failing" in text
    assert "No schedules yet" in format_schedule_list([])
    assert "/schedule run 7" in render_failure_report(SCHEDULE, run, "the model endpoint kept failing")
