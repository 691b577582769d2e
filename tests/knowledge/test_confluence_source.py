"""The Confluence connector against a loopback Confluence REST API: what reaches the index, who can retrieve it
(space permissions intersected with restrictions, inherited ones included), and what each sync asks for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import (
    Embedder,
    Reader,
    SyncEngine,
    knowledge_status,
    sync_permissions,
)
from knowledge.sources import ConfluenceSource, ConfluenceSourceConfig, SourceSecrets
from tests.fakes.confluence_api import FakeAttachment, FakeConfluence, FakePage, FakeSpace
from tests.knowledge.document_files import pdf_bytes
from tests.knowledge.reader_search import passages_for

ALICE = Reader(user_id="UALICE", email="alice@acme.example")  # staff, sre
BOB = Reader(user_id="UBOB", email="bob@acme.example")  # staff, sre
CAROL = Reader(user_id="UCAROL", email="carol@acme.example")  # staff, named on the salary page
DAVE = Reader(user_id="UDAVE", email="dave@acme.example")  # staff only
EVE = Reader(user_id="UEVE", email="eve@acme.example")  # a contractor: not in the space at all


@pytest.fixture
def confluence() -> Iterator[FakeConfluence]:
    fake = FakeConfluence(
        accounts={f"acc-{name}": f"{name}@acme.example" for name in ("alice", "bob", "carol", "dave", "eve")},
        groups={"eng-staff": ["acc-alice", "acc-bob", "acc-carol", "acc-dave"], "sre": ["acc-alice", "acc-bob"]},
        spaces={"ENG": FakeSpace(groups=["eng-staff"])},
    )
    fake.pages = {
        "1": FakePage("Engineering Home", "ENG", "<h1>Welcome</h1><p>The build server lives at ci.acme.example.</p>"),
        "2": FakePage("Runbooks", "ENG", "<p>Index of runbooks.</p>", parent="1", groups=["sre"]),
        "3": FakePage(
            "Database failover",
            "ENG",
            "<h2>Steps</h2><p>Promote the replica; the failover passphrase is in the vault.</p>",
            parent="2",
            modified="2026-11-02T10:00:00.000Z",
        ),
        "4": FakePage(
            "Salary bands", "ENG", "<p>Salary bands are reviewed each March.</p>", parent="1", users=["acc-carol"]
        ),
    }
    fake.attachments = {
        "10": FakeAttachment(
            "travel-policy.pdf",
            page="1",
            media_type="application/pdf",
            data=pdf_bytes(),
            modified="2026-11-03T10:00:00.000Z",
        ),
        "11": FakeAttachment("logo.png", page="1", media_type="image/png", data=b"\x89PNG"),
    }
    fake.start()
    yield fake
    fake.stop()


def source(confluence: FakeConfluence, name: str, **options: Any) -> ConfluenceSource:
    token = options.pop("token", confluence.token)
    data_center = options.pop("data_center", False)
    config = ConfluenceSourceConfig(
        name=name,
        spaces=options.pop("spaces", ("ENG",)),
        base_url=confluence.url,
        token_env="ACME_CONFLUENCE_TOKEN",
        email_env=None if data_center else "ACME_CONFLUENCE_EMAIL",
        max_retries=options.pop("max_retries", 2),
        **options,
    )
    secrets = SourceSecrets(
        values={"ACME_CONFLUENCE_TOKEN": SecretStr(token), "ACME_CONFLUENCE_EMAIL": SecretStr(confluence.email)}
    )
    return ConfluenceSource(config, secrets)


async def search(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> str:
    passages = await passages_for(sessions, embedder, query, source_name, *readers)
    return "\n".join(f"{p.title} | {' > '.join(p.heading_path)} | {p.url} | {p.text}" for p in passages)


async def synced(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], embedder: Embedder, name: str
) -> None:
    summary = await SyncEngine(sessions, embedder).sync(source(confluence, name))
    assert summary.status == "succeeded", summary.error
    await sync_permissions(sessions, source(confluence, name))


async def test_pages_and_attachments_reach_the_index_with_their_ancestors_as_heading_path(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(confluence, "cf-index"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5  # four pages and the PDF; the PNG is not indexed
    async with sessions() as session:
        rows = await session.execute(text("SELECT external_id, url FROM kb_documents"))
        urls = {row[0]: row[1] for row in rows}
    assert urls["ENG/page/3"] == f"{confluence.url}/spaces/ENG/pages/3"
    assert "ENG/page/1/attachment/10" in urls and "ENG/page/1/attachment/11" not in urls
    await sync_permissions(sessions, source(confluence, "cf-index"))
    found = await search(sessions, offline_embedder, "failover passphrase replica", "cf-index", ALICE)
    assert "Engineering Home > Runbooks > Database failover > Steps" in found
    assert "travel portal" in await search(sessions, offline_embedder, "book travel portal", "cf-index", DAVE)
    # Results came a page at a time (two a page), bodies in batches.
    assert len(confluence.requested("/content/search")) > 4


async def test_space_permissions_and_inherited_restrictions_decide_who_reads(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(confluence, sessions, offline_embedder, "cf-access")
    failover = "failover passphrase replica"

    assert "Promote the replica" in await search(sessions, offline_embedder, failover, "cf-access", ALICE)  # DM
    # Database failover has no restriction of its own; it inherits Runbooks' (sre only).
    assert "Promote the replica" not in await search(sessions, offline_embedder, failover, "cf-access", DAVE)
    assert "Promote the replica" in await search(sessions, offline_embedder, failover, "cf-access", ALICE, BOB)
    assert "Promote the replica" not in await search(sessions, offline_embedder, failover, "cf-access", ALICE, DAVE)
    salary = "salary bands reviewed March"
    assert "reviewed each March" in await search(sessions, offline_embedder, salary, "cf-access", CAROL)
    assert "reviewed each March" not in await search(sessions, offline_embedder, salary, "cf-access", ALICE)
    # The space is for staff: a contractor reads nothing, even the unrestricted home page.
    assert "build server" in await search(sessions, offline_embedder, "build server", "cf-access", DAVE)
    assert "build server" not in await search(sessions, offline_embedder, "build server", "cf-access", EVE)


async def test_a_restriction_change_applies_without_content_requests(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(confluence, sessions, offline_embedder, "cf-perm")
    confluence.pages["2"].groups = []  # Runbooks opened to the whole space: its children inherit that
    confluence.pages["4"].users = ["acc-carol", "acc-dave"]
    confluence.clear_requests()

    summary = await sync_permissions(sessions, source(confluence, "cf-perm"))

    assert summary.status == "succeeded", summary.error
    assert summary.changed == 3  # Runbooks, Database failover, Salary bands
    assert confluence.content_requests() == []
    failover = "failover passphrase replica"
    assert "Promote the replica" in await search(sessions, offline_embedder, failover, "cf-perm", DAVE)
    assert "reviewed each March" in await search(sessions, offline_embedder, "salary bands March", "cf-perm", DAVE)
    assert "Promote the replica" not in await search(sessions, offline_embedder, failover, "cf-perm", EVE)


async def test_edits_sync_incrementally_and_deletions_at_the_full_listing(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await synced(confluence, sessions, offline_embedder, "cf-edit")
    confluence.edit("1", when="2030-01-01T09:00:00.000Z", body="<p>The build server moved to ci2.acme.example.</p>")
    confluence.clear_requests()

    incremental = await engine.sync(source(confluence, "cf-edit"))

    assert incremental.status == "succeeded", incremental.error
    assert incremental.updated == 1 and incremental.deleted == 0
    searches = confluence.requested("/content/search")
    assert all("lastmodified" in path for path in searches if "space+in" in path)
    assert len(confluence.content_requests()) == 1  # the edited page's body alone
    assert "ci2.acme.example" in await search(sessions, offline_embedder, "build server", "cf-edit", DAVE)

    del confluence.pages["4"]
    full = await engine.sync(source(confluence, "cf-edit", deletion_check_minutes=1e-9))
    assert full.deleted == 1 and full.updated == 0


async def test_a_429_is_retried_after_its_retry_after(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    confluence.rate_limited_once.add("/wiki/rest/api/content/search")
    began = time.monotonic()

    summary = await SyncEngine(sessions, offline_embedder).sync(source(confluence, "cf-429"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5
    assert time.monotonic() - began >= 1.0


async def test_a_refused_token_names_the_source_and_its_variable(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(confluence, "cf-refused", token="revoked-1"))

    assert summary.status == "failed"
    assert "cf-refused" in (summary.error or "") and "ACME_CONFLUENCE_TOKEN" in (summary.error or "")
    assert "revoked-1" not in (summary.error or "")


async def test_data_center_takes_a_bearer_token(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    confluence.bearer = True

    summary = await SyncEngine(sessions, offline_embedder).sync(source(confluence, "cf-dc", data_center=True))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5


async def test_unreadable_space_permissions_hide_the_space_from_everyone(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    confluence.spaces["ENG"].permissions_status = 403

    await synced(confluence, sessions, offline_embedder, "cf-closed")

    assert "build server" not in await search(sessions, offline_embedder, "build server", "cf-closed", DAVE)
    status = {item.source: item for item in (await knowledge_status(sessions)).sources}["cf-closed"]
    assert status.unreadable_permissions == 5 and "space ENG" in (status.unreadable_reason or "")

    confluence.spaces["ENG"].permissions_status = 200
    await sync_permissions(sessions, source(confluence, "cf-closed"))
    assert "build server" in await search(sessions, offline_embedder, "build server", "cf-closed", DAVE)


async def test_a_crashed_first_sync_resumes_from_its_checkpoint(
    confluence: FakeConfluence, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    confluence.attachments.clear()
    confluence.pages = {
        str(number): FakePage(
            f"Widget {number}",
            "ENG",
            f"<p>Widget {number} is serviced every {number} weeks.</p>",
            modified=f"2026-11-{number:02d}T10:00:00.000Z",
        )
        for number in range(1, 11)
    }
    engine = SyncEngine(sessions, offline_embedder)
    engine.config = engine.config.model_copy(update={"batch_documents": 1})
    # Each listing page (two pages) is followed by one body search: the seventh search fails.
    confluence.fail_searches_after = 6

    crashed = await engine.sync(source(confluence, "cf-resume", max_retries=0))

    assert crashed.status == "failed"
    assert crashed.added == 6
    confluence.fail_searches_after = None
    confluence.clear_requests()
    resumed = await engine.sync(source(confluence, "cf-resume"))

    assert resumed.status == "succeeded", resumed.error
    assert resumed.added == 4
    listings = [path for path in confluence.requested("/content/search") if "space+in" in path]
    # It lists from the last page written (Widget 6, re-listed and skipped by its version) on: three listing pages.
    assert len(listings) == 3 and "lastmodified" in listings[0]
    assert resumed.deleted == 0
