"""A finished call's intake as work on the job queue: queued by the status callback, filed and posted by workers.

The status callback only queues (``phone.intake``, once per call SID: a queueing lock, and the intake's unique
constraint once it is filed), so Twilio gets its answer at once and a replica that dies mid-summary costs a retry.
Posting is its own job (``phone.intake_post``, one per intake at a time), retried with back-off while Slack refuses,
so a Slack outage never makes the summary run again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.jobs import IntakePostJob, JobAttempt, JobHandler, JobKind, JobQueue, PhoneIntakeJob
from bot.phone.calls import CallStore
from bot.phone.intake import IntakeFiler

logger = logging.getLogger(__name__)

# How far back the catch-up at start looks for ended calls without an intake and intakes never posted.
CATCH_UP_WINDOW = timedelta(days=7)


class IntakeJobs:
    """Queues intakes and their posts, and runs them (``handlers``) in a worker."""

    def __init__(self, queue: JobQueue, store: CallStore, filer: IntakeFiler) -> None:
        self.queue = queue
        self._store = store
        self._filer = filer

    async def queue_intake(self, call_sid: str) -> bool:
        """Queue the call's intake; False when it is already waiting in the queue (a repeated callback).

        A repeat queued while the first is being filed waits for it (the lock), then finds the intake filed: the
        summary model is asked once.
        """
        lock = f"phone-intake:{call_sid}"
        job_id = await self.queue.defer_if_absent(
            JobKind.PHONE_INTAKE, PhoneIntakeJob(call_sid=call_sid), queueing_lock=lock, lock=lock
        )
        return job_id is not None

    async def queue_post(self, intake_id: int) -> bool:
        lock = f"phone-intake-post:{intake_id}"
        job_id = await self.queue.defer_if_absent(
            JobKind.INTAKE_POST, IntakePostJob(intake_id=intake_id), queueing_lock=lock, lock=lock
        )
        return job_id is not None

    async def queue_pending(self, window: timedelta = CATCH_UP_WINDOW) -> tuple[int, int]:
        """Queue what a crash left behind for calls ended within ``window``: an intake for every ended call without
        one (its status callback's job was never queued), and a post for every stored intake never posted.

        Safe on several replicas at once: the queueing locks and the intake's unique constraint keep each filed
        and posted once. Returns how many intakes and posts were queued.
        """
        since = datetime.now(UTC) - window
        intakes = [
            await self.queue_intake(call_sid) for call_sid in await self._store.ended_calls_without_intake(since)
        ]
        posts = (
            [await self.queue_post(intake_id) for intake_id in await self._store.unposted_intakes(since)]
            if self._filer.can_post
            else []
        )
        if intakes or posts:
            logger.info("intake catch-up: queued %d intake(s) and %d post(s)", sum(intakes), sum(posts))
        return sum(intakes), sum(posts)

    def handlers(self) -> dict[JobKind, JobHandler]:
        return {
            JobKind.PHONE_INTAKE: JobHandler(run=self._file, give_up=self._gave_up_filing),
            JobKind.INTAKE_POST: JobHandler(run=self._post, give_up=self._gave_up_posting),
        }

    async def _file(self, job: PhoneIntakeJob, attempt: JobAttempt) -> None:
        intake_id = await self._filer.file(job.call_sid)
        if self._filer.can_post:
            await self.queue_post(intake_id)
        else:
            logger.info("intake %d stored only: INTAKE_CHANNEL or Slack is not configured", intake_id)

    async def _post(self, job: IntakePostJob, attempt: JobAttempt) -> None:
        await self._filer.post(job.intake_id)

    async def _gave_up_filing(self, job: PhoneIntakeJob) -> None:
        logger.error(
            "the intake of call %s could not be filed; the next start queues it again, or run "
            "`switchboard jobs list --kind phone.intake` and `switchboard jobs retry ID`",
            job.call_sid,
        )

    async def _gave_up_posting(self, job: IntakePostJob) -> None:
        logger.error(
            "intake %d is stored but was never posted to Slack; the next start tries again, or run "
            "`switchboard jobs retry ID` once Slack takes posts",
            job.intake_id,
        )
