"""The work after an acknowledgement: decide whether a message is a question for the bot, show the thread's status
line (or, where Slack refuses it, post "working on it"), run the agent with progress updates, and turn the answer
into a stream or messages, a stored answer record and, when a tool needs one, an approval request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents import (
    AgentAnswer,
    AgentRequest,
    AgentRunner,
    AnswerTextCallback,
    ApprovalNotFoundError,
    ApprovalRecord,
    ApprovalStore,
    ApprovalSurface,
    ProgressCallback,
    ProgressEvent,
)
from bot.jobs import ApprovalResumeJob, JobAttempt, SlackAnswerJob
from bot.logging_config import current_run_id, run_context
from bot.settings import Settings
from bot.slack import store
from bot.slack.answer_streams import STREAMING_UNSUPPORTED, SlackAnswerStream, StreamBudget
from bot.slack.attachments import AttachmentReader, ReadFiles
from bot.slack.blocks import (
    SlackMessage,
    answer_messages,
    answer_stream_end,
    approval_decided_message,
    approval_request_message,
    error_message,
    notice_message,
    working_message,
)
from bot.slack.identity import IdentityResolver, is_direct_message
from bot.slack.incoming_questions import IncomingQuestion
from bot.slack.thread_status import FIRST_STATUS, STATUS_UNSUPPORTED, ThreadStatus
from bot.slack.thread_titles import ThreadTitles

logger = logging.getLogger(__name__)

GAVE_UP = "I could not finish this answer; please ask again."


@dataclass
class AnswerFlow:
    """Everything that happens between the acknowledgement and the finished answer in the thread."""

    sessions: store.Sessions
    runner: AgentRunner
    client: AsyncWebClient
    identity: IdentityResolver
    attachments: AttachmentReader
    progress_interval_seconds: float = 1.0
    max_concurrent_runs: int = 32
    # Answers appear as they are written (chat.startStream ...); off, or refused by Slack: the edited message.
    stream_answers: bool = True
    stream_interval_seconds: float = 1.0
    # Progress as the thread's status line (assistant.threads.setStatus); off, or refused: the edited message.
    show_status: bool = True
    # Told how each event's work ended (``done`` -> ``answered``, ``ignored``, ``failed``): the service's metrics.
    count_event: Callable[[str], None] = lambda outcome: None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _bot_user_id: str | None = field(default=None, init=False)
    _runs: asyncio.Semaphore | None = field(default=None, init=False)
    # Workspaces whose Slack refused chat.startStream: not asked again until the service restarts.
    _no_streaming_teams: set[str] = field(default_factory=set, init=False)
    # chat.appendStream's rate limit is per workspace: the streams answering at once share it.
    stream_budget: StreamBudget = field(default_factory=StreamBudget)
    # Workspaces whose Slack refused assistant.threads.setStatus, likewise.
    _no_status_teams: set[str] = field(default_factory=set, init=False)
    # Conversations in the DM (the app's messages tab) are titled after their first question.
    titles: ThreadTitles = field(init=False)

    def __post_init__(self) -> None:
        self.titles = ThreadTitles(self.client)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sessions: store.Sessions,
        runner: AgentRunner,
        client: AsyncWebClient,
        *,
        count_event: Callable[[str], None] = lambda outcome: None,
        progress_interval_seconds: float = 1.0,
    ) -> AnswerFlow:
        """The flow as both the Slack channel (approvals) and a job worker (answers) build it."""
        if client.token is None:
            raise ValueError("answering in Slack needs a Web API client with the bot token")
        return cls(
            sessions=sessions,
            runner=runner,
            client=client,
            identity=IdentityResolver(settings, client, sessions),
            attachments=AttachmentReader(client.token, settings.slack_api_url),
            progress_interval_seconds=progress_interval_seconds,
            count_event=count_event,
        )

    async def aclose(self) -> None:
        await self.attachments.aclose()

    @property
    def approvals(self) -> ApprovalStore:
        """The runtime's approvals table: the one record of each approval, pointing at the message showing it."""
        return ApprovalStore(self.sessions)

    # --- background work -------------------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the acknowledgement; kept referenced so it is neither collected nor forgotten."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace_seconds: float) -> None:
        """Wait up to ``grace_seconds`` for the work started here (approval resumes, slash commands)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)

    async def bot_user_id(self) -> str | None:
        if self._bot_user_id is None:
            response = await self.client.auth_test()
            self._bot_user_id = response.get("user_id")
        return self._bot_user_id

    # --- events ----------------------------------------------------------------------------------------------

    async def answer_job(self, job: SlackAnswerJob, attempt: JobAttempt) -> None:
        """Answer one queued event (or decide it is not a question). A retried job (its worker died) answers in
        the message that already said "working on it", continuing the agent run from its last checkpoint."""
        with run_context():
            try:
                question = IncomingQuestion.from_body(job.body)
                status = await self._answer_event(question, attempt)
            except Exception:
                # The edge of a job: the user already got a message in the thread if one could be posted.
                logger.exception("answering Slack event %s failed", job.event_id)
                status = "failed"
            self.count_event("answered" if status == "done" else status)

    async def give_up(self, job: SlackAnswerJob) -> None:
        """The job died too often: say so where the answer would have been, rather than leave "working on it"."""
        question = IncomingQuestion.from_body(job.body)
        message = notice_message(GAVE_UP)
        working = await store.working_message_of(self.sessions, job.event_id)
        if working is not None:
            await self._update(question.channel_id, working, message)
        else:
            await self._post(question.channel_id, question.reply_thread_ts, message)
        self.count_event("failed")

    async def should_answer(self, question: IncomingQuestion) -> bool:
        bot_user_id = await self.bot_user_id()
        direct = is_direct_message(question.channel_id, question.channel_type)
        if question.kind == "app_mention":
            # In a DM the message event answers; a mention there must not answer twice.
            return not direct
        if question.user_id == bot_user_id:
            return False
        if direct:
            return True
        if bot_user_id and f"<@{bot_user_id}" in question.text:
            return False  # the app_mention event for the same message answers it
        if question.is_thread_reply:
            return await store.is_answered_thread(
                self.sessions, question.team_id, question.channel_id, question.reply_thread_ts
            )
        return self.identity.channel_settings(question.channel_id).respond_to == "all"

    async def _answer_event(self, question: IncomingQuestion, attempt: JobAttempt) -> str:
        if not await self.should_answer(question):
            return "ignored"
        channel, thread_ts = question.channel_id, question.reply_thread_ts
        # A retry answers in the "working on it" message the first attempt posted, if it posted one.
        working = await store.working_message_of(self.sessions, question.event_id) if attempt.number > 1 else None
        status = await self._status_line(question) if working is None and attempt.number == 1 else None
        if working is None and status is None:
            working = await self._post(channel, thread_ts, working_message())
            await store.remember_working_message(self.sessions, question.event_id, working_ts=working)
        new_thread = not await store.is_answered_thread(self.sessions, question.team_id, channel, thread_ts)
        await store.remember_thread(self.sessions, question.team_id, channel, thread_ts)
        text = question.question_text(await self.bot_user_id())
        files = await self.attachments.read(question.files) if question.files else None
        if not text and files is not None and files.attachments:
            text = "Please read the attached file(s) and summarise what matters."
        if not text:
            notes = " ".join(files.notes) if files is not None else ""
            hint = "What would you like to know? Ask me a question in this thread."
            await self._say(channel, thread_ts, working, notice_message(f"{notes} {hint}".strip()))
            if status is not None:
                await status.clear()
            return "done"
        if new_thread and is_direct_message(channel, question.channel_type):
            await self.titles.name_thread(question.team_id, channel, thread_ts, text)
        try:
            return await self._run_and_post(question, attempt, text, files, working, status)
        finally:
            if status is not None:
                await status.clear()

    async def _run_and_post(
        self,
        question: IncomingQuestion,
        attempt: JobAttempt,
        text: str,
        files: ReadFiles | None,
        working: str | None,
        status: ThreadStatus | None,
    ) -> str:
        """Run the agent with progress in ``status`` (else in the ``working`` message) and post its answer."""
        channel, thread_ts = question.channel_id, question.reply_thread_ts
        on_progress = status.on_progress if status is not None else self._progress_updater(channel, working or "")
        stream: SlackAnswerStream | None = None
        try:
            asker = await self.identity.asker(
                user_id=question.user_id,
                team_id=question.team_id,
                channel_id=channel,
                channel_type=question.channel_type,
                bot_user_id=await self.bot_user_id(),
            )
            request = AgentRequest(
                question=text,
                thread_id=f"{question.team_id}:{channel}:{thread_ts}",
                asker=asker,
                attachments=files.attachments if files is not None else [],
                approver_present=True,
            )
            # A retry answers by editing the working message: a stream the dead worker began cannot be continued.
            stream = self._answer_stream(question) if attempt.number == 1 else None
            on_answer_text: AnswerTextCallback | None = None
            if stream is not None:
                on_answer_text = _showing_text(stream, status)
            async with self._run_slot():
                answer = await self.runner.answer(request, on_progress=on_progress, on_answer_text=on_answer_text)
        except Exception:
            logger.exception("the agent failed to answer in %s thread %s", channel, thread_ts)
            failed_ts = working
            if stream is not None and stream.ts is not None:
                with contextlib.suppress(SlackApiError):
                    await stream.stop([])
                    if working is not None:
                        await self._delete(channel, working)
                failed_ts = stream.ts
            await self._say(channel, thread_ts, failed_ts, error_message(current_run_id()))
            return "failed"
        try:
            await self.post_answer(
                answer,
                team_id=question.team_id,
                channel_id=channel,
                thread_ts=thread_ts,
                working_ts=working,
                asker_id=question.user_id,
                notes=files.notes if files is not None else [],
                stream=stream,
            )
        except SlackApiError:
            # Tell the asker if Slack still lets us; handle_event logs the traceback and marks the event failed.
            with contextlib.suppress(SlackApiError):
                await self._say(channel, thread_ts, working, error_message(current_run_id()))
            raise
        finally:
            if stream is not None:
                stream.release()  # a stream never stopped must not hold its share of the workspace's budget
        return "done"

    # --- approvals -------------------------------------------------------------------------------------------

    async def resume_job(self, job: ApprovalResumeJob, attempt: JobAttempt) -> None:
        """A queued decision: resume the run (continuing from its last checkpoint when a worker died before)."""
        approval = await self.approvals.find(job.approval_id)
        if approval is None or approval.surface is None or approval.surface.kind != "slack":
            logger.warning("approval %s has no Slack message to answer in; not resumed", job.approval_id)
            return
        await self.resume_approval(
            approval, approval.surface, approved=job.approved, decided_by=job.decided_by, again=attempt.number > 1
        )

    async def give_up_resume(self, job: ApprovalResumeJob) -> None:
        """The resume died too often: say so in the thread, rather than leave the decision unanswered."""
        approval = await self.approvals.find(job.approval_id)
        if approval is not None and approval.surface is not None and approval.surface.kind == "slack":
            surface = approval.surface
            await self._post(surface.channel, surface.thread, notice_message(GAVE_UP))

    async def resume_approval(
        self,
        approval: ApprovalRecord,
        surface: ApprovalSurface,
        *,
        approved: bool,
        decided_by: str,
        again: bool = False,
    ) -> None:
        """Show the decision on the approval message, resume the paused run and post its result in the thread.

        The runtime records the decision, exactly once: a click that loses a race to another is told so here.
        ``again``: a retry after the first worker died (see ``AgentRuntime.resume``).
        """
        with run_context():
            channel, thread_ts = surface.channel, surface.thread
            decided = approval_decided_message(approval.tool_name, approved=approved, decided_by=decided_by)
            try:
                if surface.message:
                    await self._update(channel, surface.message, decided)
                working = await self._post(channel, thread_ts, working_message())
            except SlackApiError:
                logger.exception("could not post the approval decision in %s", channel)
                working = None
            try:
                async with self._run_slot():
                    answer = await self.runner.resume(
                        approval.approval_id, approved=approved, decided_by=decided_by, again=again
                    )
            except ApprovalNotFoundError as error:
                logger.info("approval %s was not resumed: %s", approval.approval_id, error)
                if working is not None:
                    await self._update(channel, working, notice_message(f"Not resumed: {error}."))
                return
            except Exception:
                logger.exception("resuming run %s after approval failed", approval.approval_id)
                if working is not None:
                    await self._update(channel, working, error_message(current_run_id()))
                return
            await self.post_answer(
                answer,
                team_id=surface.workspace,
                channel_id=channel,
                thread_ts=thread_ts,
                working_ts=working,
                asker_id=approval.requested_by,
            )

    # --- posting ---------------------------------------------------------------------------------------------

    async def post_answer(
        self,
        answer: AgentAnswer,
        *,
        team_id: str,
        channel_id: str,
        thread_ts: str,
        working_ts: str | None,
        asker_id: str,
        notes: list[str] | None = None,
        stream: SlackAnswerStream | None = None,
    ) -> None:
        """Finish the streamed answer (sources and feedback at its end), or turn the working message into the
        answer (follow-ups in the thread when it is long); keep the answer's prompt versions and sources for
        ratings, and ask for approval when the run is paused for one."""
        record = {"team_id": team_id, "channel_id": channel_id, "thread_ts": thread_ts, "asker_id": asker_id}
        if stream is not None and stream.refused in STREAMING_UNSUPPORTED:
            logger.info(
                "Slack refused streaming in workspace %s (%s): editing messages instead", team_id, stream.refused
            )
            self._no_streaming_teams.add(team_id)
        if stream is not None and stream.ts is not None:
            # Stored before the buttons appear, so even the quickest click finds the prompt versions and sources.
            await store.record_answer(self.sessions, answer, message_ts=stream.ts, **record)
            if stream.text == answer.text and len(answer_messages(answer, notes)) == 1:
                await stream.stop(answer_stream_end(answer, notes))
            else:
                # What was streamed is not all of the answer (or it needs several messages): show the answer itself.
                await stream.stop([])
                await self._show_answer(answer, notes, record, first_ts=stream.ts)
            if working_ts is not None:
                await self._delete(channel_id, working_ts)
        else:
            await self._show_answer(answer, notes, record, first_ts=working_ts)
        pending = answer.pending_approval
        if pending is not None:
            surface = ApprovalSurface(kind="slack", workspace=team_id, channel=channel_id, thread=thread_ts)
            await self.approvals.show_on(pending.approval_id, surface)
            approval_ts = await self._post(channel_id, thread_ts, approval_request_message(pending))
            await self.approvals.show_on(pending.approval_id, surface.model_copy(update={"message": approval_ts}))

    async def _show_answer(
        self, answer: AgentAnswer, notes: list[str] | None, record: dict[str, str], first_ts: str | None
    ) -> None:
        """The answer as messages: the first replaces ``first_ts`` (when given), the rest follow in the thread."""
        channel_id, thread_ts = record["channel_id"], record["thread_ts"]
        # Stored before the buttons appear, so even the quickest click finds the prompt versions and sources.
        await store.record_answer(self.sessions, answer, message_ts=first_ts or "", **record)
        last_ts = first_ts
        for index, message in enumerate(answer_messages(answer, notes)):
            if index == 0 and first_ts is not None:
                await self._update(channel_id, first_ts, message)
            else:
                last_ts = await self._post(channel_id, thread_ts, message)
        if last_ts != first_ts and last_ts is not None:
            await store.record_answer(self.sessions, answer, message_ts=last_ts, **record)

    def _answer_stream(self, question: IncomingQuestion) -> SlackAnswerStream | None:
        if not self.stream_answers or question.team_id in self._no_streaming_teams:
            return None
        return SlackAnswerStream(
            client=self.client,
            channel_id=question.channel_id,
            thread_ts=question.reply_thread_ts,
            team_id=question.team_id,
            user_id=question.user_id,
            interval_seconds=self.stream_interval_seconds,
            budget=self.stream_budget,
        )

    async def _status_line(self, question: IncomingQuestion) -> ThreadStatus | None:
        """The thread's status line, showing its first status; None where Slack will not show one (the working
        message shows progress then)."""
        if not self.show_status or question.team_id in self._no_status_teams:
            return None
        status = ThreadStatus(
            client=self.client,
            channel_id=question.channel_id,
            thread_ts=question.reply_thread_ts,
            interval_seconds=self.progress_interval_seconds,
        )
        if await status.show(FIRST_STATUS, at_once=True):
            return status
        if status.refused in STATUS_UNSUPPORTED:
            logger.info(
                "Slack refused thread status in workspace %s (%s): editing messages", question.team_id, status.refused
            )
            self._no_status_teams.add(question.team_id)
        return None

    def _run_slot(self) -> asyncio.Semaphore:
        if self._runs is None:
            self._runs = asyncio.Semaphore(self.max_concurrent_runs)
        return self._runs

    def _progress_updater(self, channel_id: str, message_ts: str) -> ProgressCallback:
        # The working message was just posted: the first change waits out the interval like every later one.
        last_update: float | None = time.monotonic()

        async def on_progress(event: ProgressEvent) -> None:
            nonlocal last_update
            now = time.monotonic()
            if last_update is not None and now - last_update < self.progress_interval_seconds:
                return  # throttled: Slack allows about one update per second per message
            last_update = now
            try:
                await self._update(channel_id, message_ts, working_message(event))
            except SlackApiError as error:
                logger.warning("could not update the progress message: %s", error.response.get("error"))

        return on_progress

    async def _post(self, channel_id: str, thread_ts: str, message: SlackMessage) -> str:
        response = await self.client.chat_postMessage(
            channel=channel_id, thread_ts=thread_ts, text=message.text, blocks=message.blocks, unfurl_links=False
        )
        return str(response["ts"])

    async def _delete(self, channel_id: str, ts: str) -> None:
        await self.client.chat_delete(channel=channel_id, ts=ts)

    async def _say(self, channel_id: str, thread_ts: str, ts: str | None, message: SlackMessage) -> None:
        """Change message ``ts`` into ``message``, or post it in the thread when there is no such message."""
        if ts is None:
            await self._post(channel_id, thread_ts, message)
        else:
            await self._update(channel_id, ts, message)

    async def _update(self, channel_id: str, ts: str, message: SlackMessage) -> None:
        await self.client.chat_update(channel=channel_id, ts=ts, text=message.text, blocks=message.blocks)


def _showing_text(stream: SlackAnswerStream, status: ThreadStatus | None) -> AnswerTextCallback:
    """Pieces of the answer go to the stream; once the first is there the status line stops changing."""

    async def write(piece: str) -> None:
        if status is not None:
            status.freeze()
        await stream.write(piece)

    return write
