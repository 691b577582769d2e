"""The kinds of durable work, each a typed task on the one job queue.

A kind's name is what ``switchboard jobs list`` shows and what the metrics are labelled with; its arguments are a
pydantic model, so a job is checked when it is queued and again when a worker takes it.

Each kind says where its exactly-once comes from: a Slack event is deduplicated on its event id before it is queued;
an occurrence of a schedule or a periodic system job is queued once per (job, fire time) by the queue itself
(``JobQueue.defer_occurrence``); an intake is queued once per call SID (a queueing lock) and filed once (the intake's
unique constraint); an approval is decided once (the approvals table) before its resume is queued.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel


class JobKind(StrEnum):
    """Every kind of job; a worker knows how to run each one its process was built with."""

    SLACK_ANSWER = "slack.answer"
    SCHEDULE_RUN = "schedule.run"
    SOURCE_SYNC = "knowledge.sync"
    PERMISSION_SYNC = "knowledge.permissions"
    TRACE_RETENTION = "traces.retention"
    PHONE_INTAKE = "phone.intake"
    INTAKE_POST = "phone.intake_post"
    APPROVAL_RESUME = "approval.resume"


class SlackAnswerJob(BaseModel):
    """Answer one Slack Events API delivery (already deduplicated on its event id)."""

    event_id: str
    body: dict[str, Any]

    @property
    def thread_lock(self) -> str:
        """One answer at a time per thread, across every worker: a second question waits for the first."""
        event = self.body.get("event") or {}
        thread = event.get("thread_ts") or event.get("ts")
        return f"slack-thread:{self.body.get('team_id')}:{event.get('channel')}:{thread}"


class OccurrenceJob(BaseModel):
    """One occurrence of something timed by the scheduler: ``timestamp`` is its fire time in whole seconds (the
    queue's key for queueing it once, whichever replica leads)."""

    timestamp: int
    trigger: Literal["scheduled", "catch-up", "manual"] = "scheduled"

    @property
    def fire_time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


class ScheduleRunJob(OccurrenceJob):
    """Run one occurrence of a schedule (or a run asked for with ``/schedule run``: ``requested_by`` is set)."""

    schedule_id: int
    requested_by: str | None = None


class SourceSyncJob(OccurrenceJob):
    """Sync one configured knowledge source (content, incrementally unless ``full``)."""

    source: str
    full: bool = False


class PermissionSyncJob(OccurrenceJob):
    """Re-read one SaaS source's groups and access lists (no content)."""

    source: str


class TraceRetentionJob(OccurrenceJob):
    """Delete the traces older than the retention."""


class PhoneIntakeJob(BaseModel):
    """Summarize, store and post the intake of one completed call."""

    call_sid: str


class IntakePostJob(BaseModel):
    """Post one stored intake to ``INTAKE_CHANNEL`` (again, after a failed post)."""

    intake_id: int


class ApprovalResumeJob(BaseModel):
    """Continue a run paused for approval, with the decision a person made in Slack."""

    approval_id: str
    approved: bool
    decided_by: str


JOB_ARGUMENTS: dict[JobKind, type[BaseModel]] = {
    JobKind.SLACK_ANSWER: SlackAnswerJob,
    JobKind.SCHEDULE_RUN: ScheduleRunJob,
    JobKind.SOURCE_SYNC: SourceSyncJob,
    JobKind.PERMISSION_SYNC: PermissionSyncJob,
    JobKind.TRACE_RETENTION: TraceRetentionJob,
    JobKind.PHONE_INTAKE: PhoneIntakeJob,
    JobKind.INTAKE_POST: IntakePostJob,
    JobKind.APPROVAL_RESUME: ApprovalResumeJob,
}
