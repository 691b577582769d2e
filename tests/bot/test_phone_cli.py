"""`switchboard phone transcript CALL_SID`: how a person reads a transcript, which never leaves the database."""

from __future__ import annotations

import asyncio

import pytest

from bot import main
from bot.phone import CallStore
from knowledge import create_engine, session_factory


async def _record_call(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        store = CallStore(session_factory(engine))
        await store.open_call("CAcli", "+15551234567", "+15557654321")
        await store.add_turn("CAcli", "assistant", "Hello, how can I help?")
        await store.add_turn("CAcli", "caller", "Is the gym open on Sundays?")
    finally:
        await engine.dispose()


def test_transcript_prints_the_call_with_a_masked_number(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_record_call(database_url))
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLM_PROVIDER", "none")
    assert main(["phone", "transcript", "CAcli"]) == 0
    out = capsys.readouterr().out
    assert "+1******4567" in out and "+15551234567" not in out
    assert "Assistant: Hello, how can I help?\nCaller: Is the gym open on Sundays?" in out


def test_an_unknown_call_is_reported(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LLM_PROVIDER", "none")
    assert main(["phone", "transcript", "CAnope"]) == 1
    assert "no phone call CAnope" in capsys.readouterr().err
