"""The scheduler inside ``switchboard serve``: scheduled agent runs and periodic system jobs, once across replicas."""

from bot.scheduling.cluster_scheduler import (
    INTERVAL_ORIGIN,
    ClusterScheduler,
    FireOutcome,
    SchedulerState,
    latest_fire_time,
    schedule_job_key,
    system_job_key,
)
from bot.scheduling.leader import SCHEDULER_LOCK_KEY, AdvisoryLockLeader, scheduler_application_name
from bot.scheduling.schedule_replies import (
    SCHEDULE_USAGE,
    AddCommand,
    format_run_result,
    format_schedule_added,
    format_schedule_line,
    format_schedule_list,
    format_schedule_removed,
    parse_add_arguments,
    parse_add_command,
    render_failure_report,
    render_run_message,
)
from bot.scheduling.schedule_runs import ScheduledRunExecutor, ScheduleRunFailedError, describe_failure, run_thread_id
from bot.scheduling.schedule_service import ScheduleService
from bot.scheduling.startup import Scheduling, build_scheduling

__all__ = [
    "INTERVAL_ORIGIN",
    "SCHEDULER_LOCK_KEY",
    "SCHEDULE_USAGE",
    "AddCommand",
    "AdvisoryLockLeader",
    "ClusterScheduler",
    "FireOutcome",
    "ScheduleRunFailedError",
    "ScheduleService",
    "ScheduledRunExecutor",
    "SchedulerState",
    "Scheduling",
    "build_scheduling",
    "describe_failure",
    "format_run_result",
    "format_schedule_added",
    "format_schedule_line",
    "format_schedule_list",
    "format_schedule_removed",
    "latest_fire_time",
    "parse_add_arguments",
    "parse_add_command",
    "render_failure_report",
    "render_run_message",
    "run_thread_id",
    "schedule_job_key",
    "system_job_key",
    "scheduler_application_name",
]
