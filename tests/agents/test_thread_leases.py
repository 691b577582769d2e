"""Thread leases: two replicas never run a turn in one conversation thread at the same time."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.thread_leases import ThreadLeases


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
    async with holder.hold("thread-long"):
        for _ in range(4):  # four lease lengths: without renewal the lease would have run out three times over
            await asyncio.sleep(0.3)
            async with sessions() as session:
                live = (
                    await session.execute(
                        text("SELECT expires_at > now() FROM agent_thread_leases WHERE thread_id = 'thread-long'")
                    )
                ).scalar_one()
            assert live
