"""The kinds of durable work, each a typed task on the one job queue.

A kind's name is what ``switchboard jobs list`` shows and what the metrics are labelled with; its arguments are a
pydantic model, so a job is checked when it is queued and again when a worker takes it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class JobKind(StrEnum):
    """Every kind of job; a worker knows how to run each one its process was built with."""

    SLACK_ANSWER = "slack.answer"


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


JOB_ARGUMENTS: dict[JobKind, type[BaseModel]] = {JobKind.SLACK_ANSWER: SlackAnswerJob}
