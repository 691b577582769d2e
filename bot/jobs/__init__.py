"""Durable work on one PostgreSQL job queue: the kinds of jobs, queuing them, and the workers that run them."""

from bot.jobs.errors import JobError, JobNotFoundError, JobNotRetryableError
from bot.jobs.kinds import (
    JOB_ARGUMENTS,
    ApprovalResumeJob,
    IntakePostJob,
    JobKind,
    OccurrenceJob,
    PermissionSyncJob,
    PhoneIntakeJob,
    ScheduleRunJob,
    SlackAnswerJob,
    SourceSyncJob,
    TraceRetentionJob,
)
from bot.jobs.queue import JobCount, JobLatency, JobQueue, JobSummary
from bot.jobs.worker import JobAttempt, JobHandler, JobWorker

__all__ = [
    "JOB_ARGUMENTS",
    "ApprovalResumeJob",
    "IntakePostJob",
    "JobAttempt",
    "JobCount",
    "JobError",
    "JobHandler",
    "JobKind",
    "JobLatency",
    "JobNotFoundError",
    "JobNotRetryableError",
    "JobQueue",
    "JobSummary",
    "JobWorker",
    "OccurrenceJob",
    "PermissionSyncJob",
    "PhoneIntakeJob",
    "ScheduleRunJob",
    "SlackAnswerJob",
    "SourceSyncJob",
    "TraceRetentionJob",
]
