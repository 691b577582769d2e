"""Long-term memory: facts a user asked Switchboard to keep, per workspace and user, recalled by meaning.

Built on LangGraph's PostgreSQL store with a pgvector index fed by the service's own embedder. Users can list and
delete what is kept about them (``switchboard chat`` ``/memories`` and ``/forget N``; Slack ``/memory``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from langgraph.store.base import BaseStore
from pydantic import BaseModel

from agents.errors import MemoryNotFoundError

MEMORY_FIELD = "text"
LIST_LIMIT = 1_000


class Memory(BaseModel):
    """One remembered fact; ``score`` is the similarity to the question when recalled."""

    memory_id: str
    text: str
    created_at: datetime
    score: float | None = None


def memory_namespace(workspace_id: str, user_id: str) -> tuple[str, ...]:
    """One namespace per workspace and user: nobody's memories are ever searched for someone else."""
    return ("memories", workspace_id, user_id)


class MemoryStore:
    """Save, recall, list and forget a user's memories (also the ``remember`` tool's ``MemoryWriter``)."""

    def __init__(self, store: BaseStore, *, recall_limit: int = 5, min_score: float = 0.2) -> None:
        self._store = store
        self._recall_limit = recall_limit
        self._min_score = min_score

    async def remember(self, *, workspace_id: str, user_id: str, text: str) -> str:
        """Keep ``text`` for this user, unless the very same fact is already kept; returns the memory's id."""
        namespace = memory_namespace(workspace_id, user_id)
        for existing in await self.list_memories(workspace_id=workspace_id, user_id=user_id):
            if existing.text.strip().lower() == text.strip().lower():
                return existing.memory_id
        memory_id = uuid.uuid4().hex
        await self._store.aput(namespace, memory_id, {MEMORY_FIELD: text.strip()})
        return memory_id

    async def recall(self, *, workspace_id: str, user_id: str, query: str, limit: int | None = None) -> list[Memory]:
        """The memories closest in meaning to ``query``, best first, above the configured similarity."""
        limit = self._recall_limit if limit is None else limit
        if limit <= 0:
            return []
        items = await self._store.asearch(memory_namespace(workspace_id, user_id), query=query, limit=limit)
        return [
            Memory(memory_id=item.key, text=item.value[MEMORY_FIELD], created_at=item.created_at, score=item.score)
            for item in items
            if item.score is None or item.score >= self._min_score
        ]

    async def list_memories(self, *, workspace_id: str, user_id: str) -> list[Memory]:
        """Everything kept for this user, oldest first (the numbering ``/forget N`` uses)."""
        items = await self._store.asearch(memory_namespace(workspace_id, user_id), limit=LIST_LIMIT)
        memories = [Memory(memory_id=i.key, text=i.value[MEMORY_FIELD], created_at=i.created_at) for i in items]
        return sorted(memories, key=lambda memory: (memory.created_at, memory.memory_id))

    async def forget(self, *, workspace_id: str, user_id: str, memory_id: str) -> Memory:
        """Delete one memory and return what it said.

        Raises:
            MemoryNotFoundError: this user has no memory with that id.
        """
        namespace = memory_namespace(workspace_id, user_id)
        item = await self._store.aget(namespace, memory_id)
        if item is None:
            raise MemoryNotFoundError(f"no memory {memory_id!r} is kept for this user")
        await self._store.adelete(namespace, memory_id)
        return Memory(memory_id=item.key, text=item.value[MEMORY_FIELD], created_at=item.created_at)
