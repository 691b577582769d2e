"""Turn what people type after ``/schedule add`` into a standard 5-field cron expression.

Accepted: a handful of natural phrases ("every weekday at 9", "every monday 8:30", "hourly", "every 15 minutes",
"daily at noon", "every month on the 1st at 9am") and raw cron expressions. Everything is normalised to a cron
expression whose day-of-week field uses names (``mon-fri``), because APScheduler 3 numbers weekdays from Monday=0
while crontab numbers them from Sunday=0 (APScheduler issue 286): names mean the same to both.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from apscheduler.triggers.cron import CronTrigger

from agents.errors import SchedulePhraseError

ACCEPTED_FORMS = (
    '"every weekday at 9", "every weekday at 09:00", "every weekend at 10am"',
    '"every monday 8:30", "every mon, wed and fri at 14:00"',
    '"every day at 17:45", "daily at noon", "daily at 6pm"',
    '"hourly", "every hour", "every 2 hours", "every minute", "every 15 minutes"',
    '"every month on the 1st at 9am", "monthly on the 15th at 18:00"',
    'or a 5-field cron expression: "0 9 * * 1-5" (minute hour day-of-month month day-of-week)',
)

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAY_ALIASES = {
    **{name: name for name in _DAY_NAMES},
    "sunday": "sun",
    "monday": "mon",
    "tuesday": "tue",
    "tues": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "thur": "thu",
    "thurs": "thu",
    "friday": "fri",
    "saturday": "sat",
}
_TIME = r"(?P<time>noon|midnight|\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)?)"
_ORDINAL = r"(?:the\s+)?(?:day\s+)?(?P<day>\d{1,2})(?:st|nd|rd|th)?"


def accepted_forms_text() -> str:
    """The accepted forms, one per line, for error messages and ``/schedule`` help."""
    return "\n".join(f"  - {form}" for form in ACCEPTED_FORMS)


def parse_when(when: str) -> str:
    """Return the cron expression for a phrase or cron expression, validated by APScheduler.

    Raises:
        SchedulePhraseError: the text is neither an accepted phrase nor a valid cron expression; the message lists
            the accepted forms.
    """
    text = " ".join(when.strip().lower().split())
    if not text:
        raise _unrecognised(when)
    try:
        if _looks_like_cron(text):
            return _validated_cron(text)
        for pattern, build in _PHRASES:
            match = re.fullmatch(pattern, text)
            if match is not None:
                return _validated_cron(build(match))
    except SchedulePhraseError as error:
        raise SchedulePhraseError(f"{error}. Accepted forms:\n{accepted_forms_text()}") from None
    raise _unrecognised(when)


def _validated_cron(expression: str) -> str:
    fields = expression.split()
    if len(fields) != 5:
        raise SchedulePhraseError(
            f"{expression!r} has {len(fields)} fields; a cron expression has 5 "
            "(minute hour day-of-month month day-of-week)"
        )
    fields[4] = _weekday_names(fields[4], expression)
    normalised = " ".join(fields)
    try:
        CronTrigger.from_crontab(normalised, timezone="UTC")
    except ValueError as error:
        raise SchedulePhraseError(f"{expression!r} is not a valid cron expression ({error})") from None
    return normalised


def _looks_like_cron(text: str) -> bool:
    return re.fullmatch(r"[\d*/,\-a-z?]+( [\d*/,\-a-z?]+){4}", text) is not None and any(
        character.isdigit() or character == "*" for character in text
    )


def _weekday_names(field: str, expression: str) -> str:
    """Rewrite crontab weekday numbers (0 or 7 = Sunday) as names, expanding ranges and steps."""
    if field in ("*", "?"):
        return "*"
    items: list[str] = []
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\d|[a-z]{3})(?:-(\d|[a-z]{3}))?(?:/(\d+))?", part)
        if match is None:
            raise SchedulePhraseError(f"{expression!r}: day-of-week {part!r} is not a weekday, range or step")
        start, end, step = match.group(1), match.group(2), match.group(3)
        if start.isalpha() and (end is None or end.isalpha()) and step is None:
            items.append(part)  # names already mean the same to crontab and APScheduler
            continue
        first = 0 if start == "*" else _weekday_number(start, expression)
        last = 6 if start == "*" else (first if end is None else _weekday_number(end, expression))
        if start != "*" and end is None and step is not None:
            last = 6
        if last == 0 and first > 0:
            last = 7  # "5-0" style ranges end on Sunday
        if first > last:
            raise SchedulePhraseError(f"{expression!r}: weekday range {part!r} runs backwards")
        for number in range(first, last + 1, int(step or 1)):
            name = _DAY_NAMES[number % 7]
            if name not in items:
                items.append(name)
    return ",".join(items)


def _weekday_number(token: str, expression: str) -> int:
    if token.isdigit():
        number = int(token)
        if number > 7:
            raise SchedulePhraseError(f"{expression!r}: weekday {number} is out of range (0-7, 0 and 7 are Sunday)")
        return number
    if token not in _DAY_NAMES:
        raise SchedulePhraseError(f"{expression!r}: {token!r} is not a weekday name (sun, mon, ... sat)")
    return _DAY_NAMES.index(token)


def _time_of_day(text: str) -> tuple[int, int]:
    """(hour, minute) from "9", "09:00", "9am", "9:30 pm", "noon", "midnight"; 24-hour unless am/pm is given."""
    text = text.replace(".", "").replace(" ", "")
    if text == "noon":
        return 12, 0
    if text == "midnight":
        return 0, 0
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(am|pm)?", text)
    if match is None:
        raise SchedulePhraseError(f"{text!r} is not a time of day; use 9, 09:00, 9am or 5:45pm")
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            raise SchedulePhraseError(f"{text!r}: with am/pm the hour is 1-12")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59:
        raise SchedulePhraseError(f"{text!r} is not a time of day (hours 0-23, minutes 0-59)")
    return hour, minute


def _at(match: re.Match[str], days_of_month: str = "*", days_of_week: str = "*") -> str:
    hour, minute = _time_of_day(match.group("time"))
    return f"{minute} {hour} {days_of_month} * {days_of_week}"


def _on_workdays(match: re.Match[str]) -> str:
    return _at(match, days_of_week="mon-fri")


def _on_weekends(match: re.Match[str]) -> str:
    return _at(match, days_of_week="sat,sun")


def _weekdays(match: re.Match[str]) -> str:
    names: list[str] = []
    for token in re.split(r"\s*(?:,|\band\b|&)\s*", match.group("days")):
        token = token.strip().removesuffix("s") if token.strip() not in _DAY_ALIASES else token.strip()
        if token not in _DAY_ALIASES:
            raise SchedulePhraseError(f"{token!r} is not a weekday name (monday ... sunday, or mon ... sun)")
        if _DAY_ALIASES[token] not in names:
            names.append(_DAY_ALIASES[token])
    return _at(match, days_of_week=",".join(names))


def _every_minutes(match: re.Match[str]) -> str:
    minutes = int(match.groupdict().get("n") or 1)
    if not 1 <= minutes <= 59:
        raise SchedulePhraseError("every N minutes needs N between 1 and 59; use hours for longer intervals")
    return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"


def _every_hours(match: re.Match[str]) -> str:
    hours = int(match.groupdict().get("n") or 1)
    if not 1 <= hours <= 23:
        raise SchedulePhraseError("every N hours needs N between 1 and 23; use a daily phrase for longer intervals")
    return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"


def _monthly(match: re.Match[str]) -> str:
    day = int(match.group("day"))
    if not 1 <= day <= 31:
        raise SchedulePhraseError(f"day {day} of the month does not exist; use 1-31")
    return _at(match, days_of_month=str(day))


_DAY_LIST = r"(?P<days>[a-z]+(?:\s*(?:,|\band\b|&)\s*[a-z]+)*)"
_PHRASES: tuple[tuple[str, Callable[[re.Match[str]], str]], ...] = (
    (r"(?:hourly|every hour)", _every_hours),
    (r"every (?P<n>\d+) hours?", _every_hours),
    (r"every minute", _every_minutes),
    (r"every (?P<n>\d+) (?:minutes?|mins?)", _every_minutes),
    (rf"(?:every day|daily|each day)(?: at)? {_TIME}", _at),
    (rf"(?:every|each|on) (?:weekday|week day|workday|business day)s?(?: at)? {_TIME}", _on_workdays),
    (rf"(?:every|each|on) (?:weekend|weekend day)s?(?: at)? {_TIME}", _on_weekends),
    (rf"(?:every|each|on|weekly on) {_DAY_LIST}(?: at)? {_TIME}", _weekdays),
    (rf"(?:every month|monthly|each month)(?: on)? {_ORDINAL}(?: at)? {_TIME}", _monthly),
)


def _unrecognised(when: str) -> SchedulePhraseError:
    return SchedulePhraseError(f"could not understand when to run: {when!r}. Accepted forms:\n{accepted_forms_text()}")
