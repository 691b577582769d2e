"""Long-term memories follow an embedding model change instead of being compared across two vector spaces."""

from __future__ import annotations

import asyncio

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentPersistence
from agents.long_term_memory import MemoryStore
from knowledge import SCHEMA_LOCK_KEY, Embedder
from tests.conftest import wait_for_schema_lock_attempt


class LetterEmbedder(Embedder):
    """Letter counts folded into ``dimensions`` axes: deterministic, and texts sharing words land close."""

    def __init__(self, name: str, dimensions: int) -> None:
        self._name = name
        self._dimensions = dimensions
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts.extend(texts)
        vectors = []
        for item in texts:
            raw = [0.0] * self._dimensions
            for letter in item.lower():
                if letter.isalpha():
                    raw[ord(letter) % self._dimensions] += 1.0
            norm = sum(value * value for value in raw) ** 0.5 or 1.0
            vectors.append([value / norm for value in raw])
        return vectors


async def test_changing_the_embedding_model_re_embeds_memories_so_recall_still_works(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await AgentPersistence.open(database_url, LetterEmbedder("test/letters-12", 12))
    try:
        memory = MemoryStore(first.store, min_score=-1.0)
        await memory.remember(workspace_id="T1", user_id="U1", text="I am on the platform team")
        await memory.remember(workspace_id="T1", user_id="U2", text="My laptop is a ThinkPad")
    finally:
        await first.aclose()

    wider = LetterEmbedder("test/letters-20", 20)
    second = await AgentPersistence.open(database_url, wider)
    try:
        recalled = await MemoryStore(second.store, min_score=-1.0).recall(
            workspace_id="T1", user_id="U1", query="which team am I on?"
        )
    finally:
        await second.aclose()

    assert [item.text for item in recalled] == ["I am on the platform team"]
    assert {"I am on the platform team", "My laptop is a ThinkPad"} <= set(wider.texts)  # both re-embedded
    async with sessions() as session:
        dimensions = (
            await session.execute(
                text(
                    "SELECT atttypmod FROM pg_attribute "
                    "WHERE attrelid = 'store_vectors'::regclass AND attname = 'embedding'"
                )
            )
        ).scalar_one()
    assert dimensions == 20

    # Opening again with the same model does no work.
    again = LetterEmbedder("test/letters-20", 20)
    third = await AgentPersistence.open(database_url, again)
    await third.aclose()
    assert again.texts == []


async def store_vector_indexes(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'store_vectors' AND indexdef ILIKE '%(embedding%'")
        )
        return [str(row[0]) for row in rows]


async def test_two_replicas_starting_after_a_model_change_both_start_and_re_embed_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await AgentPersistence.open(database_url, LetterEmbedder("test/replicas-6", 6))
    try:
        await MemoryStore(first.store, min_score=-1.0).remember(
            workspace_id="T9", user_id="U9", text="My desk is by the window"
        )
    finally:
        await first.aclose()
    indexes_before = await store_vector_indexes(sessions)

    replicas = [LetterEmbedder("test/replicas-10", 10), LetterEmbedder("test/replicas-10", 10)]
    opened = await asyncio.gather(*(AgentPersistence.open(database_url, embedder) for embedder in replicas))
    for persistence in opened:
        await persistence.aclose()

    embedded = [text for embedder in replicas for text in embedder.texts]
    assert embedded.count("My desk is by the window") == 1
    assert await store_vector_indexes(sessions) == indexes_before


async def test_store_setup_waits_for_the_schema_lock(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as migrating:
        await migrating.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        opening = asyncio.create_task(AgentPersistence.open(database_url, LetterEmbedder("test/letters-20", 20)))
        try:
            await wait_for_schema_lock_attempt(migrating)
            assert not opening.done()
        finally:
            await migrating.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
        persistence = await opening
    await persistence.aclose()
