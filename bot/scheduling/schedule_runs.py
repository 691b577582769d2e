"""One run of a schedule: ask the agent in a fresh thread, post the result to the channel, record the run.

A failed run is recorded with its reason and reported to the schedule's owner in a DM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents import AgentError, AgentRequest, AgentRunner, Asker, ScheduleNotFoundError
from agents.schedules import INTERRUPTED_REASON, RunTrigger, Schedule, ScheduleRun, ScheduleStore
from bot.errors import BotError
from bot.slack.blocks import render_failure_report, render_run_message
from bot.slack.web_client import list_channel_members, slack_error_code
from knowledge import KnowledgeError, Reader, ReaderScope

logger = logging.getLogger(__name__)


class ScheduleRunFailedError(BotError, RuntimeError):
    """A run could not post its result (Slack disabled or refusing); recorded as the run's failure reason."""


def run_thread_id(schedule_id: int, fire_time: datetime) -> str:
    """Each run is a fresh conversation: it must not remember the previous run's answer."""
    return f"schedule:{schedule_id}:{fire_time.astimezone(UTC).isoformat()}"


def describe_failure(error: BaseException) -> str:
    """The reason shown to the owner: our own errors say what to do; anything else names only its type."""
    if isinstance(error, AgentError | KnowledgeError | BotError):
        return str(error)
    if isinstance(error, SlackApiError):
        return f"Slack refused the request ({slack_error_code(error)})"
    return f"an unexpected {type(error).__name__}; the service log has the details"


class ScheduledRunExecutor:
    """Runs a schedule's instruction through the agent and posts the answer as a new top-level channel message."""

    def __init__(
        self,
        store: ScheduleStore,
        agent_runner: AgentRunner,
        slack: AsyncWebClient | None,
        reader: Callable[[str], Reader] = Reader.for_user,
    ) -> None:
        self._store = store
        self._runner = agent_runner
        self._slack = slack
        self._reader = reader
        self._bot_user_id: str | None = None

    async def run(
        self, schedule_id: int, fire_time: datetime, trigger: RunTrigger, *, requested_by: str | None = None
    ) -> ScheduleRun | None:
        """Run one occurrence; None if the schedule was removed or disabled since the scheduler loaded it."""
        try:
            schedule = await self._store.get(schedule_id)
        except ScheduleNotFoundError:
            logger.info("schedule #%d was removed; occurrence %s skipped", schedule_id, fire_time.isoformat())
            return None
        if not schedule.enabled and trigger != "manual":
            logger.info("schedule #%d is disabled; occurrence %s skipped", schedule_id, fire_time.isoformat())
            return None
        record = await self._store.start_run(schedule_id, fire_time, trigger, requested_by=requested_by)
        trace_id: str | None = None
        try:
            scope = await self._reader_scope(schedule)
            answer = await self._runner.answer(
                AgentRequest(
                    question=schedule.instruction,
                    thread_id=run_thread_id(schedule.id, fire_time),
                    asker=Asker(user_id=schedule.owner, channel="schedule", scope=scope),
                )
            )
            trace_id = answer.trace_id
            text, blocks = render_run_message(schedule, answer)
            message_ts, link = await self._post(schedule.channel, text, blocks)
        except asyncio.CancelledError:
            # The service is stopping: say so in the history instead of leaving the run "running" forever.
            await self._record_interruption(schedule.id, record.id, trace_id)
            raise
        except Exception as error:
            # A run is a job-wrapper edge: record and report the failure, keep the traceback in the log.
            reason = describe_failure(error)
            logger.exception("schedule #%d run %d failed", schedule.id, record.id)
            failed = await self._store.finish_run(record.id, status="failed", error=reason, trace_id=trace_id)
            await self._report_failure(schedule, failed, reason)
            return failed
        logger.info("schedule #%d run %d posted to %s", schedule.id, record.id, schedule.channel)
        return await self._store.finish_run(
            record.id,
            status="succeeded",
            trace_id=trace_id,
            message_channel=schedule.channel,
            message_ts=message_ts,
            message_link=link,
        )

    async def give_up(self, schedule_id: int, fire_time: datetime, attempts: int) -> None:
        """The queue stopped retrying this occurrence (its workers kept dying): record that and tell the owner."""
        reason = f"the run was started {attempts} times and did not finish any of them; it was given up"
        failed = await self._store.fail_unfinished_runs(schedule_id, fire_time, reason)
        try:
            schedule = await self._store.get(schedule_id)
        except ScheduleNotFoundError:
            return
        for run in failed:
            await self._report_failure(schedule, run, reason)

    async def _record_interruption(self, schedule_id: int, run_id: int, trace_id: str | None) -> None:
        logger.warning("schedule #%d run %d interrupted: the service is stopping", schedule_id, run_id)
        try:
            await self._store.finish_run(run_id, status="interrupted", error=INTERRUPTED_REASON, trace_id=trace_id)
        except Exception:
            # The start-up sweep (ScheduleStore.interrupt_stale_runs) marks it later.
            logger.exception("schedule #%d run %d: could not record the interruption", schedule_id, run_id)

    async def _reader_scope(self, schedule: Schedule) -> ReaderScope:
        """Everyone in the channel will read the result, so retrieval may use only what all of them may read.

        When Slack will not list every member the run fails (``ChannelMembersUnavailableError``) rather than
        answer on the owner's rights: the owner may read what others in the channel may not.
        """
        if self._slack is None or self._store.is_personal(schedule):
            return ReaderScope(readers=(self._reader(schedule.owner),))
        bot_user_id = await self._own_user_id(self._slack)
        members = await list_channel_members(self._slack, schedule.channel)
        # The bot is a member of every channel it posts to, but it reads nothing itself: as a reader without
        # groups it would hide every restricted page from channels whose people may all read it.
        readers = dict.fromkeys([schedule.owner, *(member for member in members if member != bot_user_id)])
        return ReaderScope(readers=tuple(self._reader(user_id) for user_id in readers))

    async def _own_user_id(self, slack: AsyncWebClient) -> str | None:
        """The bot's own Slack user id (``auth.test``, asked once)."""
        if self._bot_user_id is None:
            response = await slack.auth_test()
            self._bot_user_id = response.get("user_id")
        return self._bot_user_id

    async def _post(self, channel: str, text: str, blocks: list[dict[str, object]]) -> tuple[str, str | None]:
        if self._slack is None:
            raise ScheduleRunFailedError(
                "Slack is disabled (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set), so the result "
                "could not be posted"
            )
        response = await self._slack.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        message_ts = str(response["ts"])
        posted_channel = str(response.get("channel") or channel)
        try:
            permalink = await self._slack.chat_getPermalink(channel=posted_channel, message_ts=message_ts)
            link: str | None = str(permalink["permalink"])
        except SlackApiError as error:
            logger.warning("no permalink for %s/%s: %s", posted_channel, message_ts, slack_error_code(error))
            link = None
        return message_ts, link

    async def _report_failure(self, schedule: Schedule, run: ScheduleRun, reason: str) -> None:
        if self._slack is None:
            logger.warning("schedule #%d failed and Slack is disabled: owner %s not told", schedule.id, schedule.owner)
            return
        try:
            await self._slack.chat_postMessage(
                channel=schedule.owner, text=render_failure_report(schedule, run, reason), unfurl_links=False
            )
        except Exception:
            # Telling the owner is best effort; the failure itself is already recorded in the history.
            logger.exception("schedule #%d: could not tell owner %s about the failed run", schedule.id, schedule.owner)
