"""File a finished call's intake: summarize the transcript, store it once, and post it to ``INTAKE_CHANNEL``."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from agents import ChatModel, PromptStore, summarize_call
from bot.phone.caller_numbers import mask_number
from bot.phone.calls import CallStore
from bot.phone.errors import IntakePostError, UnknownCallError
from bot.phone.intake_blocks import intake_blocks, intake_fallback_text

logger = logging.getLogger(__name__)

INTAKE_PROMPT = "intake_summary"


class IntakeFiler:
    """Files each completed call's intake exactly once, however often Twilio repeats the status callback.

    It runs in job workers: ``file`` for a ``phone.intake`` job (queued once per call SID), ``post`` for a
    ``phone.intake_post`` job (one per intake at a time), so a worker that dies half-way costs a retry, not the
    intake.
    """

    def __init__(
        self,
        store: CallStore,
        chat_model: ChatModel | None,
        slack: AsyncWebClient | None,
        intake_channel: str | None,
        prompts: PromptStore,
    ) -> None:
        self._store = store
        self._chat_model = chat_model
        self._slack = slack
        self._channel = intake_channel
        self._prompts = prompts

    async def file(self, call_sid: str) -> int:
        """Summarize and store the call's intake unless it was stored already; returns the intake's id."""
        # A cheap check first so a repeated job does not pay for another model call; the unique constraint in
        # store_intake still decides when two race.
        existing = await self._store.get_intake(call_sid)
        if existing is not None:
            logger.info("intake for call %s was filed already (intake %d)", call_sid, existing.id)
            return existing.id
        call = await self._store.get_call(call_sid)
        if call is None:
            raise UnknownCallError(call_sid)
        # The live version of the versioned prompt, read per intake so an expert's edit applies to the next call.
        prompt = await self._prompts.get(INTAKE_PROMPT)
        summary = await summarize_call(
            self._chat_model,
            prompt.text,
            await self._store.transcript(call_sid),
            caller_number=call.caller_number,
            follow_up_requested=call.follow_up_requested,
        )
        summary = summary.model_copy(update={"handed_over": call.handed_over_at is not None})
        intake_id = await self._store.store_intake(call_sid, summary)
        if intake_id is None:
            raced = await self._store.get_intake(call_sid)
            if raced is None:
                raise UnknownCallError(call_sid)
            logger.info("intake for call %s was filed by a concurrent job", call_sid)
            return raced.id
        logger.info(
            "filed intake %d for call %s from %s (%s summary, follow-up: %s)",
            intake_id,
            call_sid,
            mask_number(call.caller_number),
            summary.mode,
            summary.follow_up,
        )
        return intake_id

    @property
    def can_post(self) -> bool:
        """Whether intakes go to Slack: a Slack client and ``INTAKE_CHANNEL`` are both configured."""
        return self._slack is not None and self._channel is not None

    async def post(self, intake_id: int) -> bool:
        """Post a stored intake to ``INTAKE_CHANNEL`` unless it is posted already; True when this call posted it.

        Raises:
            IntakePostError: Slack refused or could not be reached; the intake stays stored and unposted (the
                post job is retried with back-off).
        """
        if self._slack is None or self._channel is None:
            return False
        async with self._store.claim_intake_post(intake_id) as claim:
            if claim is None:
                logger.info("intake %d is already posted", intake_id)
                return False
            intake, summary = claim.intake, claim.summary
            try:
                posted = await self._slack.chat_postMessage(
                    channel=self._channel,
                    text=intake_fallback_text(summary),
                    blocks=intake_blocks(summary, intake.call_sid),
                )
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
                reason = error.response.get("error", error) if isinstance(error, SlackApiError) else error
                raise IntakePostError(
                    f"intake {intake_id} for call {intake.call_sid} is stored but Slack would not take its post to "
                    f"{self._channel} ({reason}); it is tried again"
                ) from error
            await claim.record_post(str(posted["channel"]), str(posted["ts"]))
            logger.info("posted intake %d for call %s to %s", intake_id, intake.call_sid, self._channel)
            return True
