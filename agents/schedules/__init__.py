"""Scheduled agent tasks as data: phrases and cron, the schedule tables, and the API ``/schedule`` calls."""

from agents.schedules.destinations import ScheduleDestinations
from agents.schedules.models import (
    INTERRUPTED_REASON,
    Origin,
    RunStatus,
    RunTrigger,
    Schedule,
    ScheduleDeclaration,
    ScheduleListing,
    ScheduleRun,
    cron_trigger,
    validate_timezone,
)
from agents.schedules.phrases import ACCEPTED_FORMS, accepted_forms_text, parse_when
from agents.schedules.store import ScheduleStore

__all__ = [
    "ACCEPTED_FORMS",
    "INTERRUPTED_REASON",
    "Origin",
    "RunStatus",
    "RunTrigger",
    "Schedule",
    "ScheduleDeclaration",
    "ScheduleDestinations",
    "ScheduleListing",
    "ScheduleRun",
    "ScheduleStore",
    "accepted_forms_text",
    "cron_trigger",
    "parse_when",
    "validate_timezone",
]
