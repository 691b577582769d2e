"""What can go wrong with the job queue, said so an operator knows what to do."""

from __future__ import annotations

from bot.errors import BotError


class JobError(BotError):
    """Root of the job queue's errors."""


class JobNotFoundError(JobError, LookupError):
    """No job has this id."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"there is no job {job_id}; `switchboard jobs list` shows the jobs there are")


class JobNotRetryableError(JobError):
    """Only a failed, aborted or stalled job can be retried; a queued or running one is already on its way."""
