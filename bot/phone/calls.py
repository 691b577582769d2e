"""Call state and transcripts in PostgreSQL: what every webhook request reads and writes.

Each Twilio request may land on a different replica, so nothing about a call lives in process memory: the call row,
its turns, its agent answers in progress and its intake are all here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import CallTurn, IntakeSummary
from bot.phone.errors import UnknownCallError
from bot.phone.tables import PhoneAnswer, PhoneCall, PhoneIntake, PhoneTurn


@dataclass(frozen=True)
class AnswerState:
    """Where one agent run for a caller question stands."""

    answer_id: str
    call_sid: str
    state: str
    spoken_text: str | None
    holds: int

    @property
    def finished(self) -> bool:
        return self.state != "running"


class IntakePostClaim:
    """A claimed, not yet posted intake: read it, post it, then record where it went."""

    def __init__(self, session: AsyncSession, intake: PhoneIntake) -> None:
        self._session = session
        self.intake = intake

    @property
    def summary(self) -> IntakeSummary:
        """The summary as stored (the reverse of ``CallStore.store_intake``), so any replica posts the same."""
        intake = self.intake
        return IntakeSummary(
            caller_name=intake.caller_name,
            caller_number=intake.caller_number,
            reason=intake.reason,
            details=intake.details,
            urgency=intake.urgency,
            promised=intake.promised,
            follow_up=intake.follow_up,
            mode=intake.summary_mode,
            notes=intake.notes.splitlines(),
            handed_over=intake.handed_over,
        )

    async def record_post(self, channel: str, ts: str) -> None:
        self.intake.slack_channel = channel
        self.intake.slack_ts = ts
        await self._session.flush()


class CallStore:
    """Reads and writes the phone tables, one short transaction per operation."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open_call(self, call_sid: str, caller_number: str, called_number: str) -> PhoneCall:
        """The call's row, created on its first request (Twilio may repeat ``/phone/voice``; that is harmless)."""
        async with self._sessions.begin() as session:
            await session.execute(
                insert(PhoneCall)
                .values(
                    call_sid=call_sid,
                    caller_number=caller_number,
                    called_number=called_number,
                    status="in-progress",
                    follow_up_requested=False,
                    silent_gathers=0,
                    turn_count=0,
                )
                .on_conflict_do_nothing(index_elements=[PhoneCall.call_sid])
            )
            call = await session.get(PhoneCall, call_sid)
            if call is None:
                raise UnknownCallError(call_sid)
            return call

    async def get_call(self, call_sid: str) -> PhoneCall | None:
        async with self._sessions() as session:
            return await session.get(PhoneCall, call_sid)

    async def add_turn(self, call_sid: str, speaker: str, text: str) -> int:
        """Append to the transcript; returns the turn's position (0-based)."""
        async with self._sessions.begin() as session:
            position = await session.scalar(
                update(PhoneCall)
                .where(PhoneCall.call_sid == call_sid)
                .values(turn_count=PhoneCall.turn_count + 1)
                .returning(PhoneCall.turn_count - 1)
            )
            if position is None:
                raise UnknownCallError(call_sid)
            session.add(PhoneTurn(call_sid=call_sid, position=position, speaker=speaker, text=text))
            return int(position)

    async def revise_turn(self, call_sid: str, position: int, text: str) -> None:
        """Replace what a turn says, e.g. with the part of an answer the caller heard before interrupting."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(PhoneTurn)
                .where(PhoneTurn.call_sid == call_sid, PhoneTurn.position == position)
                .values(text=text)
            )

    async def transcript(self, call_sid: str) -> list[CallTurn]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PhoneTurn).where(PhoneTurn.call_sid == call_sid).order_by(PhoneTurn.position)
            )
            return [
                CallTurn(speaker="caller" if row.speaker == "caller" else "assistant", text=row.text) for row in rows
            ]

    async def count_silence(self, call_sid: str) -> int:
        """One more gather without usable speech; returns how many in a row."""
        async with self._sessions.begin() as session:
            count = await session.scalar(
                update(PhoneCall)
                .where(PhoneCall.call_sid == call_sid)
                .values(silent_gathers=PhoneCall.silent_gathers + 1)
                .returning(PhoneCall.silent_gathers)
            )
            return int(count or 0)

    async def reset_silence(self, call_sid: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(PhoneCall).where(PhoneCall.call_sid == call_sid).values(silent_gathers=0))

    async def request_follow_up(self, call_sid: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(PhoneCall).where(PhoneCall.call_sid == call_sid).values(follow_up_requested=True)
            )

    async def record_handoff(self, call_sid: str) -> None:
        """The caller is being put through to a person: their intake will say so (and still asks for follow-up)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(PhoneCall)
                .where(PhoneCall.call_sid == call_sid)
                .values(handed_over_at=func.now(), follow_up_requested=True)
            )

    async def end_call(self, call_sid: str, status: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(PhoneCall).where(PhoneCall.call_sid == call_sid).values(status=status, ended_at=func.now())
            )

    # --- agent answers that may outlive the webhook request ---

    async def start_answer(self, call_sid: str, turn: int) -> str:
        answer_id = uuid.uuid4().hex
        async with self._sessions.begin() as session:
            session.add(PhoneAnswer(id=answer_id, call_sid=call_sid, turn=turn, state="running", holds=0))
        return answer_id

    async def finish_answer(self, answer_id: str, *, spoken_text: str, trace_id: str | None, failed: bool) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(PhoneAnswer)
                .where(PhoneAnswer.id == answer_id)
                .values(
                    state="failed" if failed else "ready",
                    spoken_text=spoken_text,
                    trace_id=trace_id,
                    finished_at=func.now(),
                )
            )

    async def answer_state(self, answer_id: str) -> AnswerState | None:
        async with self._sessions() as session:
            row = await session.get(PhoneAnswer, answer_id)
            if row is None:
                return None
            return AnswerState(row.id, row.call_sid, row.state, row.spoken_text, row.holds)

    async def count_hold(self, answer_id: str) -> int:
        """The caller was asked to hold once more; returns how many times so far."""
        async with self._sessions.begin() as session:
            holds = await session.scalar(
                update(PhoneAnswer)
                .where(PhoneAnswer.id == answer_id)
                .values(holds=PhoneAnswer.holds + 1)
                .returning(PhoneAnswer.holds)
            )
            return int(holds or 0)

    async def close_answer(self, answer_id: str, state: str) -> bool:
        """Mark an answer ``delivered`` or ``abandoned``; False if another request already closed it."""
        async with self._sessions.begin() as session:
            closed = await session.scalar(
                update(PhoneAnswer)
                .where(PhoneAnswer.id == answer_id, PhoneAnswer.state.in_(("running", "ready", "failed")))
                .values(state=state)
                .returning(PhoneAnswer.id)
            )
            return closed is not None

    # --- intakes ---

    async def has_intake(self, call_sid: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(select(PhoneIntake.id).where(PhoneIntake.call_sid == call_sid))
            return found is not None

    async def store_intake(self, call_sid: str, summary: IntakeSummary) -> int | None:
        """Insert the call's intake; None if one was already filed (the unique constraint decides races)."""
        async with self._sessions.begin() as session:
            intake_id = await session.scalar(
                insert(PhoneIntake)
                .values(
                    call_sid=call_sid,
                    caller_name=summary.caller_name,
                    caller_number=summary.caller_number,
                    reason=summary.reason,
                    details=summary.details,
                    urgency=summary.urgency,
                    promised=summary.promised,
                    follow_up=summary.follow_up,
                    summary_mode=summary.mode,
                    notes="\n".join(summary.notes),
                    handed_over=summary.handed_over,
                )
                .on_conflict_do_nothing(index_elements=[PhoneIntake.call_sid])
                .returning(PhoneIntake.id)
            )
            return None if intake_id is None else int(intake_id)

    @asynccontextmanager
    async def claim_intake_post(self, intake_id: int) -> AsyncIterator[IntakePostClaim | None]:
        """The intake to post to Slack, or None when it is posted already.

        Only its post job calls this, and the job queue runs one post job per intake at a time (its lock), so two
        workers never both post it; a post that fails leaves ``slack_ts`` empty and the job is retried. The ts
        recorded through the claim commits on exit.
        """
        async with self._sessions.begin() as session:
            intake = await session.scalar(
                select(PhoneIntake).where(PhoneIntake.id == intake_id, PhoneIntake.slack_ts.is_(None))
            )
            yield None if intake is None else IntakePostClaim(session, intake)

    async def ended_calls_without_intake(self, since: datetime) -> list[str]:
        """The call sids of calls that ended after ``since`` but have no intake, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PhoneCall.call_sid)
                .outerjoin(PhoneIntake, PhoneIntake.call_sid == PhoneCall.call_sid)
                .where(PhoneCall.ended_at >= since, PhoneIntake.id.is_(None))
                .order_by(PhoneCall.ended_at)
            )
            return list(rows)

    async def unposted_intakes(self, since: datetime) -> list[int]:
        """The ids of intakes stored after ``since`` whose Slack post never succeeded, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PhoneIntake.id)
                .where(PhoneIntake.created_at >= since, PhoneIntake.slack_ts.is_(None))
                .order_by(PhoneIntake.created_at)
            )
            return list(rows)

    async def get_intake(self, call_sid: str) -> PhoneIntake | None:
        async with self._sessions() as session:
            return await session.scalar(select(PhoneIntake).where(PhoneIntake.call_sid == call_sid))
