"""Traces keep no personal data they should not: emails and phone numbers are redacted before a trace is stored,
and traces past the retention period are deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentConfig, TraceRecord, TraceStore
from agents.trace_privacy import TracePrivacyConfig, TraceRedactor, delete_expired_traces
from agents.traces import TraceRow
from tests.agents.conftest import RuntimeFactory, brain, make_request
from tests.fakes.scripted_model import ScriptedModelServer


async def test_an_email_and_a_phone_number_are_redacted_in_the_stored_trace(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(act=["I will write to jane.doe@northwind.example about the VPN."])
    privacy = TracePrivacyConfig(redact_patterns=[r"EMP-\d{5}"])
    runtime = make_runtime(config=AgentConfig(trace_privacy=privacy))
    question = "I am EMP-12345, mail jane.doe@northwind.example or call +49 30 1234 5678 about the VPN certificate"
    answer = await runtime.answer(make_request(question, "privacy-1"))

    stored = await runtime.traces.get(answer.trace_id)
    assert stored is not None
    assert stored.question == "I am [redacted], mail [email] or call [phone] about the VPN certificate"
    assert stored.answer == "I will write to [email] about the VPN."
    assert "jane.doe" not in stored.model_dump_json() and "1234 5678" not in stored.model_dump_json()
    # The person asking still got the answer as written; only what is kept is redacted.
    assert "jane.doe@northwind.example" in answer.text


def test_dates_and_short_numbers_are_not_taken_for_phone_numbers() -> None:
    redactor = TraceRedactor()
    assert redactor.text("on 2026-11-22 ticket 12345 costs 1,250.00") == "on 2026-11-22 ticket 12345 costs 1,250.00"
    assert redactor.text("call (415) 555-0134") == "call [phone]"
    assert TraceRedactor(TracePrivacyConfig(redact_phone_numbers=False)).text("call (415) 555-0134") == (
        "call (415) 555-0134"
    )


async def test_retention_deletes_traces_older_than_the_period_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = TraceStore(sessions)
    for trace_id in ("old-1", "old-2", "recent"):
        await store.save(
            TraceRecord(trace_id=trace_id, thread_id="t", user_id="U1", channel="cli", workspace_id="w", question="q")
        )
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        await session.execute(
            update(TraceRow)
            .where(TraceRow.trace_id.in_(["old-1", "old-2"]))
            .values(created_at=now - timedelta(days=31))
        )
        await session.execute(
            update(TraceRow).where(TraceRow.trace_id == "recent").values(created_at=now - timedelta(days=29))
        )

    assert await delete_expired_traces(sessions, None) == 0
    assert await delete_expired_traces(sessions, 30) == 2
    assert await store.get("old-1") is None and await store.get("old-2") is None
    assert await store.get("recent") is not None
