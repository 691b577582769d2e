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
from bot.scheduling.schedule_runs import ScheduledRunExecutor, ScheduleRunFailedError, describe_failure, run_thread_id
from bot.scheduling.schedule_service import ScheduleService
from bot.scheduling.startup import Scheduling, build_scheduling, schedule_executor

__all__ = [
    "INTERVAL_ORIGIN",
    "SCHEDULER_LOCK_KEY",
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
    "latest_fire_time",
    "run_thread_id",
    "schedule_executor",
    "schedule_job_key",
    "system_job_key",
    "scheduler_application_name",
]
