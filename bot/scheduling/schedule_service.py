"""The ``/schedule`` API: what the Slack command router (and any other channel) calls.

It adds running on demand and an immediate reload to the store: after a change, this replica's scheduler reloads at
once; the other replicas notice within their refresh interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from agents.schedules import Schedule, ScheduleListing, ScheduleRun, ScheduleStore
from bot.scheduling.cluster_scheduler import ClusterScheduler
from bot.scheduling.schedule_runs import ScheduledRunExecutor
from tools import Role


class ScheduleService:
    """The changes that this replica's scheduler must see at once (add, remove) and running on demand.

    Reads go to ``store`` directly.
    """

    def __init__(
        self,
        store: ScheduleStore,
        executor: ScheduledRunExecutor,
        scheduler: ClusterScheduler | None = None,
    ) -> None:
        self.store = store
        self._executor = executor
        self._scheduler = scheduler

    async def add(
        self,
        *,
        when: str,
        channel: str,
        instruction: str,
        owner: str,
        timezone: str | None = None,
        roles: Iterable[Role] = (),
    ) -> ScheduleListing:
        """Create a schedule (see ``ScheduleStore.add`` for the errors) and return it with its next run."""
        schedule = await self.store.add(
            when=when, channel=channel, instruction=instruction, owner=owner, timezone=timezone, roles=roles
        )
        await self._reload()
        return ScheduleListing(schedule=schedule, next_run=schedule.next_run(datetime.now(UTC)))

    async def remove(self, schedule_id: int, *, by: str, roles: Iterable[Role] = ()) -> Schedule:
        schedule = await self.store.remove(schedule_id, by=by, roles=roles)
        await self._reload()
        return schedule

    async def run_now(
        self, schedule_id: int, *, by: str, roles: Iterable[Role] = ()
    ) -> tuple[Schedule, ScheduleRun | None]:
        """Run a schedule at once in this process (not an occurrence, so no leadership or claim is involved).

        Awaits the whole run: a Slack handler acknowledges the command first and calls this in the background.
        """
        schedule = await self.store.authorize_run(schedule_id, by=by, roles=roles)
        run = await self._executor.run(schedule_id, datetime.now(UTC), "manual", requested_by=by)
        return schedule, run

    async def _reload(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.refresh()
