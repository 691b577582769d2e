"""``/kb status|sources|sync`` through the real Bolt app on the service as ``serve`` wires it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import EmbeddedPostgres, upgrade_database
from bot.jobs import JobKind, JobSummary
from knowledge import KnowledgeStatus, knowledge_status
from testing_support.databases import create_database, drop_database
from testing_support.waiting import eventually
from tests.bot.slack_runtime_harness import RuntimeSlack, slack_on_runtime
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture
def sources(tmp_path: Path) -> list[dict[str, object]]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nRotate the certificate with `nwvpn cert renew`.\n")
    (docs / "leave.md").write_text("# Leave\n\nParents get sixteen weeks of paid leave.\n")
    (docs / "broken.txt").write_bytes(b"caf\xe9")
    (docs / "hr").mkdir()
    (docs / "hr" / "layoffs-2027.txt").write_bytes(b"plan \xff")
    return [
        {
            "type": "folder",
            "name": "wiki",
            "path": str(docs),
            "sync_interval_minutes": 30,
            "access": [{"pattern": "hr/**", "groups": ["hr"]}],
        }
    ]


@pytest.fixture
async def slack(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str, sources: list[dict[str, object]]
) -> AsyncIterator[RuntimeSlack]:
    """The service without its start-up catch-up sync, so the tests decide when the index fills."""
    async with slack_on_runtime(
        slack_api, scripted_model, database_url, sources=sources, groups={"hr": ["UHR"]}, sync_overdue_on_start=False
    ) as harness:
        yield harness


async def test_an_editor_syncs_and_everyone_sees_the_status(slack: RuntimeSlack) -> None:
    assert "the knowledge index is empty" in (await slack.run_command("/kb", "status", user="U1")).lower()
    assert "*wiki* (folder), re-synced every 30 minutes" in await slack.run_command("/kb", "sources", user="U1")

    synced = await slack.run_command("/kb", "sync wiki", user="UEDITOR")
    assert "*wiki* succeeded" in synced and "2 added" in synced and "2 failed" in synced
    assert "failed: broken.txt: " in synced
    assert "layoffs" not in synced and "1 more failure in documents you cannot read" in synced

    status = await slack.run_command("/kb", "status", user="U1")
    assert "*wiki*: 2 documents" in status and "succeeded: 2 added" in status
    assert "failed: broken.txt" in status


async def test_a_failed_restricted_document_is_named_only_to_its_readers(slack: RuntimeSlack) -> None:
    await slack.run_command("/kb", "sync wiki", user="UEDITOR")

    outsider = await slack.run_command("/kb", "status", user="U1")
    assert "failed: broken.txt" in outsider
    assert "layoffs" not in outsider and "hr/" not in outsider
    assert "1 more failure in documents you cannot read" in outsider

    reader = await slack.run_command("/kb", "status", user="UHR")
    assert "failed: hr/layoffs-2027.txt" in reader and "failed: broken.txt" in reader
    assert "cannot read" not in reader


async def test_sync_is_for_editors_and_names_known_sources(slack: RuntimeSlack) -> None:
    response = await slack.command("/kb", "sync", user="U1")
    assert response.status_code == 200
    refusal = str(response.json()) if response.content else str(await slack.reply(1))
    assert "editor" in refusal.lower()

    unknown = await slack.run_command("/kb", "sync nope", user="UADMIN")
    assert "There is no source named `nope`; sources: wiki." in unknown


async def test_serve_syncs_a_never_synced_source_in_the_background_at_start(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    postgres_server: EmbeddedPostgres,
    sources: list[dict[str, object]],
) -> None:
    database_url = create_database(postgres_server.url, prefix="catchup")
    upgrade_database(database_url)
    try:
        async with slack_on_runtime(slack_api, scripted_model, database_url, sources=sources) as slack:

            async def synced() -> KnowledgeStatus | None:
                status = await knowledge_status(slack.service.sessions)
                finished = status.sources and status.sources[0].last_run and status.sources[0].last_run.finished_at
                return status if finished else None

            status = await eventually(synced, what="the start-up sync to finish")
            assert status is not None
            assert (status.sources[0].source, status.sources[0].documents) == ("wiki", 2)
    finally:
        drop_database(postgres_server.url, database_url)


def _home_buttons(view: dict[str, object], action_id: str) -> list[str]:
    blocks = view["blocks"]
    assert isinstance(blocks, list)
    return [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action_id]


async def test_an_editor_syncs_a_source_from_app_home_and_a_plain_user_cannot(slack: RuntimeSlack) -> None:
    for user in ("UEDITOR", "U1"):
        await slack.event({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
    await eventually(lambda: {"UEDITOR", "U1"} <= set(slack.slack.home_views), what="both Home tabs published")
    assert _home_buttons(slack.slack.home_views["UEDITOR"], "home_sync_source") == ["wiki"]
    assert "home_sync_source" not in str(slack.slack.home_views["U1"])

    # A forged click from someone who may not sync queues nothing and changes nothing they see.
    await slack.click("home_sync_source", "wiki", user="U1")
    await slack.click("home_sync_source", "nope", user="UEDITOR")
    await eventually(
        lambda: "no source named *nope*" in str(slack.slack.home_views["UEDITOR"]), what="the unknown source refused"
    )
    await slack.click("home_sync_source", "wiki", user="UEDITOR")
    await eventually(
        lambda: "sync of *wiki* is" in str(slack.slack.home_views["UEDITOR"]), what="the Home tab saying it queued"
    )

    async def synced() -> KnowledgeStatus | None:
        status = await knowledge_status(slack.service.sessions)
        done = status.sources and status.sources[0].last_run and status.sources[0].last_run.finished_at
        return status if done else None

    status = await eventually(synced, what="the queued sync to run on a worker")
    assert status is not None and (status.sources[0].source, status.sources[0].documents) == ("wiki", 2)

    # Only the editor's click on a configured source queued a sync (the database is this test's own).
    async def finished_syncs() -> list[JobSummary] | None:
        jobs = await slack.service.queue.list_jobs(kind=JobKind.SOURCE_SYNC)
        return jobs if jobs and all(job.status == "succeeded" for job in jobs) else None

    assert len(await eventually(finished_syncs, what="the sync job to finish") or []) == 1
