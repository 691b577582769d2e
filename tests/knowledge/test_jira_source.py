"""The Jira connector against a loopback Jira REST API: what reaches the index, who can retrieve it (Browse projects
holders intersected with issue security levels), and what each sync asks for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import Embedder, Reader, SyncEngine, knowledge_status, sync_permissions
from knowledge.sources import JiraSource, JiraSourceConfig, SourceSecrets
from tests.fakes.jira_api import FakeIssue, FakeJira, adf
from tests.knowledge.reader_search import passages_for

ALICE = Reader(user_id="UALICE", email="alice@acme.example")  # ops staff, sre
BOB = Reader(user_id="UBOB", email="bob@acme.example")  # ops staff, sre
DAVE = Reader(user_id="UDAVE", email="dave@acme.example")  # ops staff only
EVE = Reader(user_id="UEVE", email="eve@acme.example")  # a contractor who reported one issue


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira(
        accounts={f"acc-{name}": f"{name}@acme.example" for name in ("alice", "bob", "dave", "eve")},
        groups={"ops-staff": ["acc-alice", "acc-bob", "acc-dave"], "sre": ["acc-alice", "acc-bob"]},
        browse={"OPS": [("projectRole", "10002"), ("reporter", "")]},
        roles={"OPS": {"10002": [("group", "ops-staff")]}},
        levels={"20001": [("group", "sre")]},
    )
    fake.issues = {
        "101": FakeIssue(
            "OPS-1",
            "VPN drops every hour",
            adf("The VPN concentrator drops idle tunnels after sixty minutes."),
            status="Done",
            resolution="Fixed",
            comments=[
                ("acc-bob", "Raised the idle timeout to eight hours."),
                ("acc-alice", "Deployed to every site."),
                ("acc-dave", "Confirmed fixed in the Berlin office."),
            ],
        ),
        "102": FakeIssue(
            "OPS-2",
            "Rotate the payroll database password",
            adf("The payroll password rotation runs every quarter from the vault."),
            security_level="20001",
        ),
        "103": FakeIssue(
            "OPS-3",
            "Printer on floor three jams",
            adf("The floor three printer jams on duplex jobs."),
            updated="2026-11-02T10:00:00.000+0000",
        ),
        "104": FakeIssue(
            "OPS-4",
            "Badge reader broken at the loading dock",
            adf("The loading dock badge reader rejects every card."),
            reporter="acc-eve",
            updated="2026-11-03T10:00:00.000+0000",
        ),
    }
    fake.start()
    yield fake
    fake.stop()


def source(jira: FakeJira, name: str, **options: Any) -> JiraSource:
    token = options.pop("token", jira.token)
    data_center = options.pop("data_center", False)
    scope = {"jql": options.pop("jql")} if "jql" in options else {"projects": ("OPS",)}
    config = JiraSourceConfig(
        name=name,
        base_url=jira.url,
        token_env="ACME_JIRA_TOKEN",
        email_env=None if data_center else "ACME_JIRA_EMAIL",
        max_retries=options.pop("max_retries", 2),
        **scope,
        **options,
    )
    secrets = SourceSecrets(values={"ACME_JIRA_TOKEN": SecretStr(token), "ACME_JIRA_EMAIL": SecretStr(jira.email)})
    return JiraSource(config, secrets)


async def search(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> str:
    passages = await passages_for(sessions, embedder, query, source_name, *readers)
    return "\n".join(f"{p.title} | {' > '.join(p.heading_path)} | {p.url} | {p.text}" for p in passages)


async def synced(jira: FakeJira, sessions: async_sessionmaker[AsyncSession], embedder: Embedder, name: str) -> None:
    summary = await SyncEngine(sessions, embedder).sync(source(jira, name))
    assert summary.status == "succeeded", summary.error
    await sync_permissions(sessions, source(jira, name))


async def test_issues_reach_the_index_with_description_comments_and_resolution(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(jira, "jira-index"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 4
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT external_id, title, url FROM kb_documents WHERE title LIKE 'OPS-1:%'")
        )
        external_id, title, url = rows.one()
    assert (external_id, title, url) == ("OPS/issue/101", "OPS-1: VPN drops every hour", f"{jira.url}/browse/OPS-1")
    await sync_permissions(sessions, source(jira, "jira-index"))
    found = await search(sessions, offline_embedder, "VPN idle tunnels Berlin office fixed", "jira-index", DAVE)
    assert "drops idle tunnels" in found and "Resolution: Fixed" in found
    # The third comment is past the search's comment page: it came from the comment endpoint.
    assert "Berlin office" in found
    assert jira.requested("/issue/101/comment")
    assert len(jira.requested("/search/jql")) >= 2  # two issues a page


async def test_browse_permission_and_security_levels_decide_who_reads(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(jira, sessions, offline_embedder, "jira-access")
    payroll = "payroll password rotation quarter"

    assert "every quarter" in await search(sessions, offline_embedder, payroll, "jira-access", ALICE)  # a DM
    assert "every quarter" not in await search(sessions, offline_embedder, payroll, "jira-access", DAVE)
    assert "every quarter" in await search(sessions, offline_embedder, payroll, "jira-access", ALICE, BOB)  # channel
    assert "every quarter" not in await search(sessions, offline_embedder, payroll, "jira-access", ALICE, DAVE)
    # The project's role holds the staff; the reporter holder lets the contractor read the issue she reported.
    vpn = "VPN idle tunnels"
    assert "idle tunnels" in await search(sessions, offline_embedder, vpn, "jira-access", DAVE)
    assert "idle tunnels" not in await search(sessions, offline_embedder, vpn, "jira-access", EVE)
    badge = "loading dock badge reader"
    assert "rejects every card" in await search(sessions, offline_embedder, badge, "jira-access", EVE)
    assert "rejects every card" in await search(sessions, offline_embedder, badge, "jira-access", EVE, DAVE)


async def test_a_permission_change_applies_without_content_requests(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(jira, sessions, offline_embedder, "jira-perm")
    jira.levels["20001"] = [("group", "sre"), ("user", "acc-dave")]
    jira.groups["ops-staff"] = ["acc-alice", "acc-bob"]  # Dave leaves the staff group
    jira.clear_requests()

    summary = await sync_permissions(sessions, source(jira, "jira-perm"))

    assert summary.status == "succeeded", summary.error
    assert jira.content_requests() == []
    # The payroll issue's level now names Dave, but he no longer holds Browse projects: still hidden from him.
    assert "every quarter" not in await search(
        sessions, offline_embedder, "payroll password rotation quarter", "jira-perm", DAVE
    )
    assert "idle tunnels" not in await search(sessions, offline_embedder, "VPN idle tunnels", "jira-perm", DAVE)
    jira.groups["ops-staff"] = ["acc-alice", "acc-bob", "acc-dave"]
    await sync_permissions(sessions, source(jira, "jira-perm"))
    assert "every quarter" in await search(
        sessions, offline_embedder, "payroll password rotation quarter", "jira-perm", DAVE
    )


async def test_edits_sync_incrementally_and_deletions_at_the_full_listing(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await synced(jira, sessions, offline_embedder, "jira-edit")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    jira.edit("103", when=now, description=adf("The floor three printer was replaced by a new model."))
    jira.clear_requests()

    incremental = await engine.sync(source(jira, "jira-edit"))

    assert incremental.status == "succeeded", incremental.error
    assert incremental.updated == 1 and incremental.deleted == 0
    searches = jira.requested("/search/jql")
    assert searches and all("updated+%3E%3D" in path for path in searches)
    assert "replaced by a new model" in await search(
        sessions, offline_embedder, "floor three printer", "jira-edit", DAVE
    )

    del jira.issues["104"]
    full = await engine.sync(source(jira, "jira-edit", deletion_check_minutes=1e-9))
    assert full.deleted == 1 and full.updated == 0


async def test_a_429_is_retried_after_its_retry_after(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    jira.rate_limited_once.add("/rest/api/3/search/jql")
    began = time.monotonic()

    summary = await SyncEngine(sessions, offline_embedder).sync(source(jira, "jira-429"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 4
    assert time.monotonic() - began >= 1.0


async def test_a_refused_token_names_the_source_and_its_variable(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(jira, "jira-refused", token="revoked-2"))

    assert summary.status == "failed"
    assert "jira-refused" in (summary.error or "") and "ACME_JIRA_TOKEN" in (summary.error or "")
    assert "revoked-2" not in (summary.error or "")


async def test_data_center_takes_a_bearer_token_and_rest_v2(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    jira.bearer = True

    summary = await SyncEngine(sessions, offline_embedder).sync(source(jira, "jira-dc", data_center=True))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 4
    assert jira.requested("/rest/api/2/search") and not jira.requested("/rest/api/3/")


async def test_a_jql_filter_chooses_the_issues(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    jira.issues["201"] = FakeIssue("HR-1", "Holiday calendar", adf("Holidays are listed on the intranet."))
    jira.browse["HR"] = [("group", "ops-staff")]

    summary = await SyncEngine(sessions, offline_embedder).sync(source(jira, "jira-jql", jql="project = HR"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 1


async def test_an_unreadable_permission_scheme_hides_the_project_from_everyone(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    jira.scheme_status = 403

    await synced(jira, sessions, offline_embedder, "jira-closed")

    assert "idle tunnels" not in await search(sessions, offline_embedder, "VPN idle tunnels", "jira-closed", DAVE)
    status = {item.source: item for item in (await knowledge_status(sessions)).sources}["jira-closed"]
    assert status.unreadable_permissions == 4 and "project OPS" in (status.unreadable_reason or "")

    jira.scheme_status = 200
    await sync_permissions(sessions, source(jira, "jira-closed"))
    assert "idle tunnels" in await search(sessions, offline_embedder, "VPN idle tunnels", "jira-closed", DAVE)


def test_the_config_takes_projects_or_jql_and_no_order_by() -> None:
    base = {"name": "j", "base_url": "https://acme.atlassian.net"}
    with pytest.raises(ValidationError, match="exactly one of"):
        JiraSourceConfig(**base)
    with pytest.raises(ValidationError, match="exactly one of"):
        JiraSourceConfig(**base, projects=("OPS",), jql="project = OPS")
    with pytest.raises(ValidationError, match="ORDER BY"):
        JiraSourceConfig(**base, jql="project = OPS order by created")
    assert JiraSourceConfig(**base, projects=("OPS",), email_env="E").secret_variables() == ("JIRA_TOKEN", "E")


async def test_a_crashed_first_sync_resumes_from_its_checkpoint(
    jira: FakeJira, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    jira.issues = {
        str(100 + number): FakeIssue(
            f"OPS-{number}",
            f"Widget {number}",
            adf(f"Widget {number} is serviced every {number} weeks."),
            updated=datetime(2026, 11, number, 10, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        )
        for number in range(1, 11)
    }
    engine = SyncEngine(sessions, offline_embedder)
    engine.config = engine.config.model_copy(update={"batch_documents": 1})
    jira.fail_searches_after = 3  # three pages of two issues, then the search fails

    crashed = await engine.sync(source(jira, "jira-resume", max_retries=0))

    assert crashed.status == "failed"
    assert crashed.added == 6
    jira.fail_searches_after = None
    jira.clear_requests()
    resumed = await engine.sync(source(jira, "jira-resume"))

    assert resumed.status == "succeeded", resumed.error
    assert resumed.added == 4 and resumed.deleted == 0
    searches = jira.requested("/search/jql")
    # It lists from the last issue written (Widget 6, re-listed and skipped by its `updated`) on.
    assert "updated" in searches[0] and len(searches) == 3
