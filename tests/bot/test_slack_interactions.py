"""Feedback buttons and modal, slash commands and permissions, approvals, attachments, failures and recovery."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer, AgentRequest, ApprovalRecord, ApprovalStore, Citation, PendingApproval
from bot.slack import rating_stats, write_audit
from bot.slack.audit import recent_audit
from bot.slack.ratings import find_rating
from testing_support.agent_runner import ScriptedAgentRunner
from testing_support.waiting import eventually
from tests.bot.slack_harness import running_slack
from tests.fakes.slack_api import FakeSlackApi
from tests.knowledge.document_files import docx_bytes


@pytest.fixture
def harness_args(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str) -> dict[str, Any]:
    return {"engine": engine, "sessions": sessions, "database_url": database_url}


def _versioned_answer(request: AgentRequest) -> AgentAnswer:
    return AgentAnswer(
        text=f"About {request.question}",
        citations=[Citation(title="Leave policy", url="https://hr.example/leave")],
        trace_id=uuid.uuid4().hex,
        prompt_versions={"answer": 7},
    )


async def _trace_id(slack_api: FakeSlackApi) -> str:
    def answered() -> str | None:
        for call in slack_api.calls_to("chat.update"):
            for block in call.get("blocks") or []:
                if block["type"] == "context_actions" and block["elements"][0]["type"] == "feedback_buttons":
                    return str(block["elements"][0]["positive_button"]["value"]).removeprefix("up:")
        return None

    return await eventually(answered, what="an answer with its feedback buttons")


async def test_feedback_buttons_and_modal_comment_are_stored_against_trace_and_prompt_version(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_slack(slack_api, ScriptedAgentRunner(reply=_versioned_answer), **harness_args) as slack:
        await slack.mention("how many leave days?", ts="900.1")
        trace_id = await _trace_id(slack_api)

        assert (await slack.click("feedback", f"up:{trace_id}", user="U1")).status_code == 200
        liked = await find_rating(sessions, trace_id, "U1")
        assert liked is not None and liked.rating == 1
        assert liked.prompt_versions == {"answer": 7} and liked.source_urls == ["https://hr.example/leave"]

        # A second click changes the rating and opens the "what was wrong?" modal.
        await slack.click("feedback", f"down:{trace_id}", user="U1")
        modal = (await slack_api.wait_for("views.open"))[0]
        assert modal["trigger_id"].startswith("trig-")
        view = modal["view"]
        await slack.submit_view(
            {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"]},
            {"comment": {"comment": {"type": "plain_text_input", "value": "It missed part-time staff."}}},
            user="U1",
        )
        # The classic buttons on answers posted before native feedback still count the same.
        await slack.click("feedback_up", trace_id, user="U2")

    disliked = await find_rating(sessions, trace_id, "U1")
    assert disliked is not None and disliked.rating == -1 and disliked.comment == "It missed part-time staff."
    stats = {row.version: row for row in await rating_stats(sessions, "answer")}
    assert (stats[7].up, stats[7].down, stats[7].comments) == (1, 1, 1)


async def test_non_editor_is_refused_changes_and_everyone_gets_usage_help(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_slack(slack_api, ScriptedAgentRunner(), **harness_args) as slack:
        refused = await slack.command("/prompt", 'set answer "Be terse."', user="U2")
        refused_schedule = await slack.command("/schedule", 'add "every weekday at 9:00" #ops report', user="U2")
        usage = await slack.command("/prompt", "", user="U2")
        unknown = await slack.command("/prompt", "frobnicate", user="U2")
        stats = await slack.command("/prompt", "stats answer", user="U2")
        bad_stats = await slack.command("/prompt", "stats", user="U2")
        replies = await slack_api.wait_for_responses(1)

    for response in (refused, refused_schedule):
        assert response.status_code == 200
        assert response.json()["response_type"] == "ephemeral"
        assert "only prompt editors and admins" in response.json()["text"]
    assert "/prompt stats NAME" in usage.json()["text"]
    assert "Unknown subcommand `frobnicate`" in unknown.json()["text"]
    assert stats.status_code == 200 and not stats.content  # acknowledged; the result follows via response_url
    assert replies[0]["response_type"] == "ephemeral" and "prompt `answer`" in replies[0]["text"]
    assert "Usage: `/prompt stats NAME`" in bad_stats.json()["text"]


async def test_audit_log_records_who_what_when_before_and_after(sessions: async_sessionmaker[AsyncSession]) -> None:
    await write_audit(sessions, actor="UEDITOR", action="prompt.set", target="answer", before="v1", after="v2")
    entry = (await recent_audit(sessions, 1))[0]
    assert (entry.actor, entry.action, entry.target, entry.before, entry.after) == (
        "UEDITOR",
        "prompt.set",
        "answer",
        "v1",
        "v2",
    )
    assert entry.at is not None


def _needs_approval(request: AgentRequest) -> AgentAnswer:
    approval_id = "appr-" + uuid.uuid4().hex[:8]
    return AgentAnswer(
        text="I can restart it once someone approves.",
        trace_id=uuid.uuid4().hex,
        prompt_versions={"answer": 1},
        pending_approval=PendingApproval(
            approval_id=approval_id,
            thread_id=request.thread_id,
            tool_name="restart_service",
            arguments={"service": "billing"},
            description="restart the billing service",
            requested_by=request.asker.user_id,
        ),
    )


async def _approval_id(slack_api: FakeSlackApi, count: int) -> str:
    """The approval id on the ``count``-th Approve / Reject message, once it is posted."""

    def posted() -> str | None:
        ids = [
            str(block["elements"][0]["value"])
            for post in slack_api.calls_to("chat.postMessage")
            for block in post.get("blocks") or []
            if block["type"] == "actions" and block["elements"][0]["action_id"] == "approval_approve"
        ]
        return ids[count - 1] if len(ids) >= count else None

    return await eventually(posted, what=f"approval message {count}")


async def test_approval_approved_by_asker_rejected_by_admin_after_restart_and_refused_for_others(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    approvals = ApprovalStore(harness_args["sessions"])
    runner = ScriptedAgentRunner(reply=_needs_approval, approvals=approvals)
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await slack.mention("restart billing", ts="1000.1")
        first = await _approval_id(slack_api, 1)
        await _shown_approval(approvals, first)
        await slack.click("approval_approve", first, user="U2")  # not the asker, not an admin
        refusal = (await slack_api.wait_for("chat.postEphemeral"))[0]
        assert "Only <@U1>" in refusal["text"] and refusal["user"] == "U2"
        assert runner.resumed == []

        await slack.click("approval_approve", first, user="U1")
        await slack_api.wait_for("chat.postMessage", 3)
        await slack.settle()
        await slack.mention("restart billing again", ts="1001.1")
        second = await _approval_id(slack_api, 2)
        await _shown_approval(approvals, second)

    # A new process: the approval id is all the click needs.
    async with running_slack(slack_api, runner, **harness_args) as restarted:
        await restarted.click("approval_reject", second, user="UADMIN")
        await restarted.settle()

    assert runner.resumed == [(first, True, "U1"), (second, False, "UADMIN")]
    texts = [call["text"] for call in slack_api.calls_to("chat.update")]
    assert any("Approved by <@U1>" in t for t in texts) and any("Rejected by <@UADMIN>" in t for t in texts)
    assert any("restart_service done" in t for t in texts) and any("restart_service cancelled" in t for t in texts)


async def _shown_approval(approvals: ApprovalStore, approval_id: str) -> ApprovalRecord:
    """The approval once it points at the posted Approve / Reject message."""

    async def shown() -> ApprovalRecord | None:
        record = await approvals.find(approval_id)
        if record is not None and record.surface is not None and record.surface.message is not None:
            return record
        return None

    return await eventually(shown, what=f"approval {approval_id} to point at its message", within_seconds=10)


async def test_a_click_on_a_superseded_approval_says_so_and_resumes_nothing(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    """The runtime supersedes a paused run when a newer question arrives; the old buttons read that same record."""
    approvals = ApprovalStore(harness_args["sessions"])
    runner = ScriptedAgentRunner(reply=_needs_approval, approvals=approvals)
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await slack.mention("restart billing", ts="1000.1")
        approval_id = await _approval_id(slack_api, 1)
        record = await _shown_approval(approvals, approval_id)
        assert record.surface is not None
        assert (record.surface.kind, record.surface.channel, record.surface.thread) == ("slack", "C1", "1000.1")
        assert await approvals.supersede(record.thread_id) == 1

        await slack.click("approval_approve", approval_id, user="U1")
        [notice] = await slack_api.wait_for("chat.postEphemeral")
        await slack.settle()

    assert notice["text"] == "This request was already superseded." and notice["user"] == "U1"
    assert runner.resumed == []


async def test_attached_files_are_read_and_unreadable_ones_are_mentioned(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    slack_api.files["notes.md"] = b"# Release notes\nVersion 2 ships on Friday."
    slack_api.files["policy.docx"] = docx_bytes()
    slack_api.files["scan.pdf"] = b"%PDF-1.4 not really a pdf"
    files = [
        {"name": "notes.md", "filetype": "markdown", "size": 44, "url_private": f"{slack_api.url}/files/notes.md"},
        {"name": "policy.docx", "filetype": "docx", "size": 9000, "url_private": f"{slack_api.url}/files/policy.docx"},
        {"name": "scan.pdf", "filetype": "pdf", "size": 9000, "url_private": f"{slack_api.url}/files/scan.pdf"},
        {"name": "huge.txt", "filetype": "text", "size": 50_000_000, "url_private": f"{slack_api.url}/files/huge.txt"},
    ]
    runner = ScriptedAgentRunner()
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await slack.mention("summarise these", ts="1100.1", files=files, subtype="file_share")
        await slack.settle()

    attachments = runner.requests[0].attachments
    assert [a.name for a in attachments] == ["notes.md", "policy.docx"]
    assert attachments[0].text == "# Release notes\nVersion 2 ships on Friday."
    assert "# " in attachments[1].text  # the Word document's headings came through as Markdown
    assert slack_api.file_downloads == ["notes.md", "policy.docx", "scan.pdf"]
    answer = slack_api.calls_to("chat.update")[-1]
    shown = " ".join(block["text"]["text"] for block in answer["blocks"] if block["type"] == "section")
    assert "I could not read scan.pdf" in shown and "huge.txt is too large" in shown


async def test_agent_failure_gives_a_plain_message_and_never_a_traceback(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    def broken(request: AgentRequest) -> AgentAnswer:
        raise RuntimeError("database exploded at line 42")

    async with running_slack(slack_api, ScriptedAgentRunner(reply=broken), **harness_args) as slack:
        await slack.mention("anything", ts="1200.1")
        await slack.settle()
    final = slack_api.calls_to("chat.update")[-1]["text"]
    assert "something went wrong" in final and "exploded" not in final and "Traceback" not in final


async def test_an_answer_job_whose_worker_died_is_answered_once_in_its_working_message(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A worker killed mid-answer leaves its job running under a dead heartbeat: a live worker's sweep queues it
    again and the retry answers in the "working on it" message the first attempt posted, not in a new one."""
    from bot.slack.store import prune_old_events

    runner = ScriptedAgentRunner()
    async with running_slack(slack_api, runner, **harness_args) as slack:
        # The first attempt got as far as "working on it", then its process died (its heartbeat stops).
        await slack.mention("lost question", ts="1300.1")
        await slack.settle()
        [working] = slack_api.calls_to("chat.postMessage")
        working_ts = next(c.response["ts"] for c in slack_api.calls if c.method == "chat.postMessage")
        async with sessions.begin() as session:
            job_id = (await session.execute(text("SELECT max(id) FROM procrastinate_jobs"))).scalar_one()
            dead = (
                await session.execute(
                    text(
                        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES "
                        "(now() - interval '1 minute') RETURNING id"
                    )
                )
            ).scalar_one()
            await session.execute(
                text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :id"),
                {"w": dead, "id": job_id},
            )
        await slack.settle()
    assert [request.question for request in runner.requests] == ["lost question", "lost question"]
    # No second "working on it": the retry edited the first one into the answer.
    assert len(slack_api.calls_to("chat.postMessage")) == 1
    assert slack_api.calls_to("chat.update")[-1]["ts"] == working_ts
    assert working["thread_ts"] == "1300.1"

    # Events are forgotten once Slack can no longer retry them; recent ones are kept for deduplication.
    async with sessions.begin() as session:
        await session.execute(text("UPDATE slack_events SET received_at = now() - interval '2 days'"))
    assert await prune_old_events(sessions) >= 1
