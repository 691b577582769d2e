"""What people type as WHEN becomes the cron expression they mean, or an error listing what is accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents import SchedulePhraseError
from agents.schedules import cron_trigger, parse_when


@pytest.mark.parametrize(
    ("phrase", "cron"),
    [
        ("every weekday at 9", "0 9 * * mon-fri"),
        ("every weekday at 09:00", "0 9 * * mon-fri"),
        ("Every Weekday at 9am", "0 9 * * mon-fri"),
        ("every monday 8:30", "30 8 * * mon"),
        ("every monday at 8:30pm", "30 20 * * mon"),
        ("every mon, wed and fri at 14:00", "0 14 * * mon,wed,fri"),
        ("every day at 17:45", "45 17 * * *"),
        ("every day at 5:45 pm", "45 17 * * *"),
        ("daily at noon", "0 12 * * *"),
        ("daily at midnight", "0 0 * * *"),
        ("daily at 12am", "0 0 * * *"),
        ("daily at 12pm", "0 12 * * *"),
        ("hourly", "0 * * * *"),
        ("every hour", "0 * * * *"),
        ("every 2 hours", "0 */2 * * *"),
        ("every minute", "* * * * *"),
        ("every 15 minutes", "*/15 * * * *"),
        ("every weekend at 10am", "0 10 * * sat,sun"),
        ("every month on the 1st at 9am", "0 9 1 * *"),
        ("monthly on the 15th at 18:00", "0 18 15 * *"),
    ],
)
def test_accepted_phrases_become_cron(phrase: str, cron: str) -> None:
    assert parse_when(phrase) == cron


@pytest.mark.parametrize(
    ("expression", "cron"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("30 6 1 * *", "30 6 1 * *"),
        # Crontab numbers weekdays from Sunday = 0 (and 7); APScheduler 3 from Monday = 0. Names mean one thing.
        ("0 9 * * 1-5", "0 9 * * mon,tue,wed,thu,fri"),
        ("0 0 * * 0", "0 0 * * sun"),
        ("0 0 * * 7", "0 0 * * sun"),
        ("0 0 * * 5-7", "0 0 * * fri,sat,sun"),
        ("0 9 * * mon-fri", "0 9 * * mon-fri"),
    ],
)
def test_cron_expressions_are_validated_and_keep_crontab_weekdays(expression: str, cron: str) -> None:
    assert parse_when(expression) == cron


def test_numeric_weekdays_fire_on_the_crontab_day() -> None:
    # 2026-11-21 is a Saturday; "1-5" means Monday to Friday, so the next run is Monday the 23rd.
    trigger = cron_trigger(parse_when("0 9 * * 1-5"), "UTC")
    assert trigger.get_next_fire_time(None, datetime(2026, 11, 21, 12, tzinfo=UTC)) == datetime(
        2026, 11, 23, 9, tzinfo=UTC
    )


def test_a_schedule_runs_in_its_owners_time_zone() -> None:
    trigger = cron_trigger(parse_when("every weekday at 9"), "Europe/Berlin")
    next_run = trigger.get_next_fire_time(None, datetime(2026, 11, 23, 0, tzinfo=UTC))
    assert next_run.astimezone(UTC) == datetime(2026, 11, 23, 8, tzinfo=UTC)  # 09:00 CET


@pytest.mark.parametrize(
    "when",
    [
        "",
        "sometimes",
        "every weekday at 25",
        "every weekday at 9:75",
        "daily at 13pm",
        "daily at 0am",
        "every 0 minutes",
        "every 90 minutes",
        "every funday at 9",
        "every month on the 32nd at 9",
        "0 9 * *",
        "61 * * * *",
        "0 9 * * 8",
        "0 9 32 * *",
        "every weekday",
    ],
)
def test_rejected_forms_show_the_accepted_forms(when: str) -> None:
    with pytest.raises(SchedulePhraseError) as caught:
        parse_when(when)
    message = str(caught.value)
    assert "Accepted forms" in message or "accepted" in message.lower()
    assert "every weekday at 9" in message
    assert "cron expression" in message
