"""Thread leases: two replicas never run a turn in one conversation thread at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.thread_leases import ThreadLeases
from testing_support.waiting import eventually


async def test_a_second_replica_waits_until_the_first_turn_in_the_thread_is_done(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    replica_a = ThreadLeases(sessions, lease_seconds=60)
    replica_b = ThreadLeases(sessions, lease_seconds=60, poll_seconds=0.01, max_poll_seconds=0.02)
    order: list[str] = []
    a_holds = asyncio.Event()
    release_a = asyncio.Event()

    async def turn_a() -> None:
        async with replica_a.hold("slack:C1:1700000000.1"):
            order.append("a starts")
            a_holds.set()
            await release_a.wait()
            order.append("a ends")

    async def turn_b() -> None:
        async with replica_b.hold("slack:C1:1700000000.1"):
            order.append("b starts")

    first = asyncio.create_task(turn_a())
    await a_holds.wait()
    second = asyncio.create_task(turn_b())
    for _ in range(20):  # many polls by B while A holds the thread
        await asyncio.sleep(0.01)
    assert order == ["a starts"]

    release_a.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert order == ["a starts", "a ends", "b starts"]


async def test_other_threads_are_not_held_up(sessions: async_sessionmaker[AsyncSession]) -> None:
    leases = ThreadLeases(sessions, lease_seconds=60)
    async with leases.hold("thread-1"):
        async with asyncio.timeout(10):
            async with ThreadLeases(sessions, lease_seconds=60).hold("thread-2"):
                pass


async def test_a_lease_left_by_a_dead_replica_expires(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:  # a replica died mid-run: its lease row stays behind, already expired
        await session.execute(
            text(
                "INSERT INTO agent_thread_leases (thread_id, token, expires_at) "
                "VALUES ('thread-dead', 'gone', now() - interval '1 second')"
            )
        )

    async with asyncio.timeout(10):
        async with ThreadLeases(sessions, lease_seconds=60).hold("thread-dead"):
            pass

    async with sessions() as session:
        left = (await session.execute(text("SELECT count(*) FROM agent_thread_leases"))).scalar_one()
    assert left == 0  # released after the turn


async def test_a_run_longer_than_the_lease_keeps_its_thread_because_it_renews_the_lease(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Leases are short so a dead replica holds a thread only seconds; a live one renews while its run lasts."""
    holder = ThreadLeases(sessions, lease_seconds=0.3)
    expiries: list[Any] = []

    async def renewed_past_its_first_lease() -> bool:
        async with sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT expires_at, expires_at > now() AS live, now() AS at "
                        "FROM agent_thread_leases WHERE thread_id = 'thread-long'"
                    )
                )
            ).one()
        assert row.live, "the lease ran out while its holder was still running"
        if not expiries or row.expires_at != expiries[-1]:
            expiries.append(row.expires_at)
        # Held well past the first lease's end, and still live: only renewals can do that.
        return len(expiries) >= 4 and row.at > expiries[0]

    async with holder.hold("thread-long"):
        await eventually(renewed_past_its_first_lease, what="the lease to be renewed several times", every_seconds=0.05)
