"""The schedule API the channels call (``/schedule add|list|remove|run``, the config file) and the run history.

Permissions are checked here as well as in the Slack middleware (defence in depth): only editors and admins create
or remove schedules that post to a channel; anyone may manage the schedules that post only to their own DM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.errors import ScheduleInputError, ScheduleNotFoundError, SchedulePermissionError
from agents.schedules.destinations import ScheduleDestinations
from agents.schedules.models import (
    INTERRUPTED_REASON,
    RETRIED_REASON,
    RunStatus,
    RunTrigger,
    Schedule,
    ScheduleDeclaration,
    ScheduleListing,
    ScheduleRow,
    ScheduleRun,
    ScheduleRunRow,
    validate_timezone,
)
from agents.schedules.phrases import parse_when
from tools import Role, permits

logger = logging.getLogger(__name__)

MAX_INSTRUCTION_CHARS = 4000
# Aliases: inside the class, ``list`` names the method.
Schedules = list[Schedule]
ScheduleRuns = list[ScheduleRun]
ScheduleListings = list[ScheduleListing]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ScheduleStore:
    """Schedules and their runs in PostgreSQL: the source of truth each replica's scheduler loads."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        destinations: ScheduleDestinations,
        *,
        default_timezone: str = "UTC",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._destinations = destinations
        self._default_timezone = validate_timezone(default_timezone)
        self._clock = clock

    async def add(
        self,
        *,
        when: str,
        channel: str,
        instruction: str,
        owner: str,
        timezone: str | None = None,
        roles: Iterable[Role] = (),
    ) -> Schedule:
        """Validate and store a schedule created in chat, owned by ``owner`` in ``timezone`` (their own zone).

        Raises:
            SchedulePhraseError: WHEN is not understood (the message lists the accepted forms).
            ScheduleInputError: bad channel, instruction or time zone.
            SchedulePermissionError: a channel schedule by someone who is neither editor nor admin.
        """
        cron = parse_when(when)
        instruction = _checked_instruction(instruction)
        zone = validate_timezone(timezone or self._default_timezone)
        self._destinations.check(channel, owner)
        self._authorize(owner, frozenset(roles), channel=channel, owner=owner, action="create")
        async with self._sessions.begin() as session:
            row = ScheduleRow(
                owner=owner,
                channel=channel,
                instruction=instruction,
                when_text=" ".join(when.split()),
                cron=cron,
                timezone=zone,
                enabled=True,
                origin="chat",
            )
            session.add(row)
            await session.flush()
            await session.refresh(row)
            schedule = Schedule.from_row(row)
        logger.info("schedule #%d added by %s for %s: %s (%s)", schedule.id, owner, channel, cron, zone)
        return schedule

    def is_personal(self, schedule: Schedule) -> bool:
        """A schedule that posts only to its owner (their DM), which the owner may manage without a role."""
        return self._destinations.is_personal(schedule.channel, schedule.owner)

    async def get(self, schedule_id: int) -> Schedule:
        async with self._sessions() as session:
            row = await session.get(ScheduleRow, schedule_id)
        if row is None or row.removed_at is not None:
            raise ScheduleNotFoundError(schedule_id)
        return Schedule.from_row(row)

    async def list(self, *, channel: str | None = None, owner: str | None = None) -> ScheduleListings:
        """Schedules (optionally of one channel or owner) with their next run and the outcome of their last run."""
        query = select(ScheduleRow).where(ScheduleRow.removed_at.is_(None)).order_by(ScheduleRow.id)
        if channel is not None:
            query = query.where(ScheduleRow.channel == channel)
        if owner is not None:
            query = query.where(ScheduleRow.owner == owner)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
            last_runs = await _last_runs(session, [row.id for row in rows])
        now = self._clock()
        listings = []
        for row in rows:
            schedule = Schedule.from_row(row)
            listings.append(
                ScheduleListing(
                    schedule=schedule,
                    next_run=schedule.next_run(now) if schedule.enabled else None,
                    last_run=last_runs.get(row.id),
                )
            )
        return listings

    async def remove(self, schedule_id: int, *, by: str, roles: Iterable[Role] = ()) -> Schedule:
        """Remove a schedule (its history stays); editors/admins, or the owner of a personal schedule."""
        schedule = await self.get(schedule_id)
        self._authorize(by, frozenset(roles), channel=schedule.channel, owner=schedule.owner, action="remove")
        async with self._sessions.begin() as session:
            await session.execute(
                update(ScheduleRow)
                .where(ScheduleRow.id == schedule_id)
                .values(removed_at=func.now(), removed_by=by, enabled=False, updated_at=func.now())
            )
        logger.info("schedule #%d removed by %s", schedule_id, by)
        return schedule

    async def authorize_run(self, schedule_id: int, *, by: str, roles: Iterable[Role] = ()) -> Schedule:
        """Check that ``by`` may run this schedule now (same rule as removing it) and return it."""
        schedule = await self.get(schedule_id)
        self._authorize(by, frozenset(roles), channel=schedule.channel, owner=schedule.owner, action="run")
        return schedule

    async def history(self, schedule_id: int, *, limit: int = 20) -> ScheduleRuns:
        """The latest runs of a schedule (removed ones keep theirs), newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ScheduleRunRow)
                .where(ScheduleRunRow.schedule_id == schedule_id)
                .order_by(ScheduleRunRow.id.desc())
                .limit(limit)
            )
            return [ScheduleRun.from_row(row) for row in rows]

    async def enabled_schedules(self) -> Schedules:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ScheduleRow)
                .where(ScheduleRow.removed_at.is_(None), ScheduleRow.enabled.is_(True))
                .order_by(ScheduleRow.id)
            )
            return [Schedule.from_row(row) for row in rows]

    async def version(self) -> tuple[int, datetime | None]:
        """A cheap fingerprint of the table (row count, newest change) that replicas poll to know when to reload."""
        async with self._sessions() as session:
            count, newest = (await session.execute(select(func.count(), func.max(ScheduleRow.updated_at)))).one()
        return int(count), newest

    async def start_run(
        self, schedule_id: int, fire_time: datetime, trigger: RunTrigger, *, requested_by: str | None = None
    ) -> ScheduleRun:
        """Record a run starting. An earlier run of the same occurrence still ``running`` was cut off (its worker
        died and the queue retried it): it is marked interrupted, so the history shows both attempts truthfully."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ScheduleRunRow)
                .where(
                    ScheduleRunRow.schedule_id == schedule_id,
                    ScheduleRunRow.fire_time == fire_time,
                    ScheduleRunRow.status == "running",
                )
                .values(status="interrupted", finished_at=self._clock(), error=RETRIED_REASON)
            )
            row = ScheduleRunRow(
                schedule_id=schedule_id,
                fire_time=fire_time,
                trigger=trigger,
                requested_by=requested_by,
                started_at=self._clock(),
                status="running",
            )
            session.add(row)
            await session.flush()
            return ScheduleRun.from_row(row)

    async def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        error: str | None = None,
        trace_id: str | None = None,
        message_channel: str | None = None,
        message_ts: str | None = None,
        message_link: str | None = None,
    ) -> ScheduleRun:
        async with self._sessions.begin() as session:
            row = await session.get(ScheduleRunRow, run_id)
            if row is None:
                raise LookupError(f"schedule run {run_id} does not exist")
            row.finished_at = self._clock()
            row.status = status
            row.error = error
            row.trace_id = trace_id
            row.message_channel = message_channel
            row.message_ts = message_ts
            row.message_link = message_link
            await session.flush()
            return ScheduleRun.from_row(row)

    async def fail_unfinished_runs(self, schedule_id: int, fire_time: datetime, reason: str) -> Sequence[ScheduleRun]:
        """Mark the occurrence's runs still ``running`` failed with ``reason`` (the queue gave the run up)."""
        async with self._sessions.begin() as session:
            rows = await session.scalars(
                update(ScheduleRunRow)
                .where(
                    ScheduleRunRow.schedule_id == schedule_id,
                    ScheduleRunRow.fire_time == fire_time,
                    ScheduleRunRow.status == "running",
                )
                .values(status="failed", finished_at=self._clock(), error=reason)
                .returning(ScheduleRunRow)
            )
            return [ScheduleRun.from_row(row) for row in rows]

    async def interrupt_stale_runs(self, older_than: timedelta) -> int:
        """Mark runs still ``running`` long after any run could finish as interrupted: their process died."""
        now = self._clock()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ScheduleRunRow)
                .where(ScheduleRunRow.status == "running", ScheduleRunRow.started_at < now - older_than)
                .values(status="interrupted", finished_at=now, error=INTERRUPTED_REASON)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def sync_declarations(self, declarations: Sequence[ScheduleDeclaration]) -> Schedules:
        """Upsert the config file's schedules (origin ``config``) and disable those no longer declared.

        Idempotent, and safe when several replicas start at once: a row only changes (and bumps ``updated_at``)
        when its declaration did.
        """
        keys = [declaration.key for declaration in declarations]
        if len(set(keys)) != len(keys):
            raise ScheduleInputError("two [[schedules]] in the config file have the same name (or channel and text)")
        async with self._sessions.begin() as session:
            for declaration in declarations:
                self._destinations.check(declaration.channel, declaration.owner)
                values = {
                    "owner": declaration.owner,
                    "channel": declaration.channel,
                    "instruction": _checked_instruction(declaration.instruction),
                    "when_text": " ".join(declaration.when.split()),
                    "cron": parse_when(declaration.when),
                    "timezone": declaration.timezone or self._default_timezone,
                    "enabled": True,
                }
                statement = insert(ScheduleRow).values(origin="config", config_key=declaration.key, **values)
                changed = [getattr(ScheduleRow, name).is_distinct_from(statement.excluded[name]) for name in values]
                changed.append(ScheduleRow.removed_at.is_not(None))
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[ScheduleRow.config_key],
                        set_={**values, "removed_at": None, "removed_by": None, "updated_at": func.now()},
                        where=or_(*changed),
                    )
                )
            stale = update(ScheduleRow).where(
                ScheduleRow.origin == "config", ScheduleRow.enabled.is_(True), ScheduleRow.removed_at.is_(None)
            )
            if keys:
                stale = stale.where(ScheduleRow.config_key.not_in(keys))
            await session.execute(stale.values(enabled=False, updated_at=func.now()))
            rows = await session.scalars(
                select(ScheduleRow).where(ScheduleRow.config_key.in_(keys)).order_by(ScheduleRow.id)
            )
            return [Schedule.from_row(row) for row in rows]

    def _authorize(self, user: str, roles: frozenset[Role], *, channel: str, owner: str, action: str) -> None:
        personal = self._destinations.is_personal(channel, owner)
        if permits(roles, "schedule.change_own" if user == owner and personal else "schedule.change"):
            return
        if personal:
            raise SchedulePermissionError(f"only its owner, an editor or an admin may {action} a personal schedule")
        raise SchedulePermissionError(
            f"only editors and admins may {action} schedules that post to a channel; "
            "ask one of them, or schedule it in your DM with the bot"
        )


async def _last_runs(session: AsyncSession, schedule_ids: list[int]) -> dict[int, ScheduleRun]:
    if not schedule_ids:
        return {}
    # Run ids grow with time, so each schedule's highest id is its latest run.
    latest = (
        select(func.max(ScheduleRunRow.id))
        .where(ScheduleRunRow.schedule_id.in_(schedule_ids))
        .group_by(ScheduleRunRow.schedule_id)
    )
    rows = await session.scalars(select(ScheduleRunRow).where(ScheduleRunRow.id.in_(latest)))
    return {row.schedule_id: ScheduleRun.from_row(row) for row in rows}


def _checked_instruction(instruction: str) -> str:
    instruction = instruction.strip()
    if not instruction:
        raise ScheduleInputError("the instruction is empty: say what the agent should do at each run")
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise ScheduleInputError(f"the instruction is too long ({len(instruction)} characters; at most 4000)")
    return instruction
