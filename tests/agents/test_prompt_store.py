"""Prompts as data: seeded from the bundled files, versioned on every change, one live version, rollbacks."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import PromptNotFoundError, PromptStore, PromptValidationError
from agents.prompts import SEED_DIRECTORY


async def test_bundled_prompts_are_seeded_once_as_version_one(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = PromptStore(sessions)
    listed = {p.name: p for p in await store.list_prompts()}

    expected = {"answer", "planner", "reflection", "memory", "summary", "phone_persona", "intake_summary"}
    assert expected <= set(listed)
    assert listed["answer"].live_version == 1
    answer = await store.get("answer")
    assert answer.text == (SEED_DIRECTORY / "answer.md").read_text().strip()
    assert answer.live and answer.author == "switchboard (seed)"
    assert await PromptStore(sessions).seed() == []  # a second start creates nothing


async def test_set_history_diff_and_rollback(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = PromptStore(sessions)
    original = await store.get("planner")

    second = await store.set("planner", original.text + "\nPrefer one search.", author="U_EDITOR")
    third = await store.set("planner", "Plan in one line.", author="U_OTHER", note="shorter")

    assert (second.version, third.version) == (original.version + 1, original.version + 2)
    live = await store.get("planner")
    assert live.version == third.version and live.text == "Plan in one line."
    assert (await store.get("planner", second.version)).live is False

    history = await store.history("planner")
    assert [v.version for v in history] == [third.version, second.version, original.version]
    assert [v.author for v in history[:2]] == ["U_OTHER", "U_EDITOR"]
    assert all(v.created_at is not None for v in history)
    assert [v.live for v in history] == [True, False, False]

    diff = await store.diff("planner", second.version, third.version)
    assert diff.startswith(f"--- planner v{second.version}\n+++ planner v{third.version}\n")
    assert "+Plan in one line.\n" in diff and "-Prefer one search.\n" in diff

    rolled = await store.rollback("planner", second.version, author="U_ADMIN")
    assert rolled.version == third.version + 1
    assert rolled.text == second.text and rolled.note == f"rollback to v{second.version}"
    assert (await store.get("planner")).version == rolled.version
    summary = {p.name: p for p in await store.list_prompts()}["planner"]
    assert (summary.live_version, summary.versions, summary.updated_by) == (rolled.version, 4, "U_ADMIN")


async def test_pinned_versions_for_a_run(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = PromptStore(sessions)
    await store.set("memory", "Known facts about the user:", author="U_EDITOR")

    prompts = await store.live_prompts(["answer", "memory"], overrides={"memory": 1})

    assert prompts["memory"].version == 1 and prompts["memory"].live is False
    assert prompts["answer"].live


async def test_bad_names_and_versions_are_explained(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = PromptStore(sessions)
    with pytest.raises(PromptNotFoundError, match="no prompt named 'nope'; prompts are: .*answer"):
        await store.get("nope")
    with pytest.raises(PromptNotFoundError, match="has no version 99"):
        await store.get("answer", 99)
    with pytest.raises(PromptValidationError, match="lowercase"):
        await store.set("Bad Name", "text", author="U1")
    with pytest.raises(PromptValidationError, match="empty"):
        await store.set("answer", "   ", author="U1")
    created = await store.set("escalation", "Escalate to the on-call engineer.", author="U1")
    assert created.version == 1 and created.live
