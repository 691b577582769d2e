"""The Notion connector against a loopback Notion API: what reaches the index (blocks as structured text, rows with
their properties), who can retrieve it (the operator's access_map, closed when unmapped), and what each sync asks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import Embedder, Reader, SyncEngine, sync_permissions
from knowledge.documents import SourceDocument
from knowledge.sources import NotionSource, NotionSourceConfig, SourceSecrets
from tests.fakes.notion_api import FakeDataSource, FakeNotion, FakeNotionPage, block, rich
from tests.knowledge.reader_search import passages_for

HANDBOOK = "a1a1a1a1-0000-4000-8000-000000000001"
RUNBOOKS = "a1a1a1a1-0000-4000-8000-000000000002"
PEOPLE = "a1a1a1a1-0000-4000-8000-000000000003"
STRAY = "a1a1a1a1-0000-4000-8000-000000000004"
INCIDENT = "a1a1a1a1-0000-4000-8000-000000000005"
INCIDENTS_SOURCE = "b2b2b2b2-0000-4000-8000-000000000001"
INCIDENTS_DATABASE = "c3c3c3c3-0000-4000-8000-000000000001"
UNSHARED = "d4d4d4d4-0000-4000-8000-000000000001"

ALICE = Reader(user_id="UALICE", groups=frozenset({"engineering", "hr"}))
BOB = Reader(user_id="UBOB", groups=frozenset({"engineering"}))
CAROL = Reader(user_id="UCAROL", groups=frozenset({"hr"}))
ADMIN = Reader(user_id="UADMIN", groups=frozenset({"admins"}))
ACCESS_MAP = {HANDBOOK.replace("-", ""): {"groups": ["engineering"]}, PEOPLE: {"groups": ["hr"]}}


@pytest.fixture
def notion() -> Iterator[FakeNotion]:
    fake = FakeNotion()
    fake.pages = {
        HANDBOOK: FakeNotionPage(
            "Engineering Handbook",
            [
                block("heading_1", "Onboarding"),
                block("paragraph", "Laptops ship from the Denver office."),
                block("bulleted_list_item", "Request a badge", [block("paragraph", "Ask reception on floor two.")]),
                block("bulleted_list_item", "Join the on-call rota"),
                block("code", "make bootstrap", language="shell"),
                block("toggle", "Secrets policy", [block("paragraph", "Never paste tokens in chat.")]),
                {
                    "type": "table",
                    "table": {"table_width": 2, "has_column_header": True},
                    "children": [
                        {"type": "table_row", "table_row": {"cells": [rich("Service"), rich("Owner")]}, "children": []},
                        {
                            "type": "table_row",
                            "table_row": {"cells": [rich("billing"), rich("payments")]},
                            "children": [],
                        },
                    ],
                },
                {"type": "child_page", "child_page": {"title": "Runbooks"}, "children": []},
            ],
        ),
        RUNBOOKS: FakeNotionPage(
            "Runbooks", [block("paragraph", "Restart the queue with systemctl restart queue.")], parent=HANDBOOK
        ),
        PEOPLE: FakeNotionPage(
            "People Ops",
            [block("paragraph", "Parental leave is sixteen weeks.")],
            last_edited="2026-11-02T10:00:00.000Z",
        ),
        STRAY: FakeNotionPage(
            "Stray notes", [block("paragraph", "The offsite is in Lisbon this year.")], parent=UNSHARED
        ),
        INCIDENT: FakeNotionPage(
            "Incident 42: checkout outage",
            [block("paragraph", "Root cause was an expired certificate.")],
            parent=INCIDENTS_SOURCE,
            properties={
                "Severity": {"type": "select", "select": {"name": "SEV1"}},
                "Owner": {"type": "people", "people": [{"object": "user", "id": "u1", "name": "Priya"}]},
                "Resolved": {"type": "checkbox", "checkbox": True},
            },
            last_edited="2026-11-03T10:00:00.000Z",
        ),
    }
    fake.data_sources = {INCIDENTS_SOURCE: FakeDataSource("Incidents", INCIDENTS_DATABASE, parent=HANDBOOK)}
    fake.start()
    yield fake
    fake.stop()


def source(notion: FakeNotion, name: str, **options: Any) -> NotionSource:
    token = options.pop("token", notion.token)
    config = NotionSourceConfig(
        name=name,
        api_url=notion.url,
        token_env="ACME_NOTION_TOKEN",
        access_map=options.pop("access_map", ACCESS_MAP),
        max_retries=options.pop("max_retries", 2),
        **options,
    )
    return NotionSource(config, SourceSecrets(values={"ACME_NOTION_TOKEN": SecretStr(token)}))


async def search(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> str:
    passages = await passages_for(sessions, embedder, query, source_name, *readers)
    return "\n".join(f"{p.title} | {' > '.join(p.heading_path)} | {p.url} | {p.text}" for p in passages)


async def synced(notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], embedder: Embedder, name: str) -> None:
    summary = await SyncEngine(sessions, embedder).sync(source(notion, name))
    assert summary.status == "succeeded", summary.error
    await sync_permissions(sessions, source(notion, name))


async def test_pages_and_rows_reach_the_index_as_structured_text(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(notion, "notion-index"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5  # four pages and the database row; the data source itself is no document
    fetched = [result async for result in source(notion, "notion-index").fetch({})]
    handbook = next(d for d in fetched if isinstance(d, SourceDocument) and d.title == "Engineering Handbook")
    content, url = handbook.content, handbook.url
    assert url.startswith("https://www.notion.so/Engineering-Handbook-")
    assert "# Onboarding" in content
    assert "- Request a badge\n  Ask reception on floor two.\n- Join the on-call rota" in content
    assert "```shell\nmake bootstrap\n```" in content
    assert "- Secrets policy\n  Never paste tokens in chat." in content
    assert "| Service | Owner |\n| --- | --- |\n| billing | payments |" in content
    assert "Subpage: Runbooks" in content
    found = await search(sessions, offline_embedder, "checkout outage certificate", "notion-index", BOB)
    assert "Severity: SEV1" in found and "Owner: Priya" in found and "expired certificate" in found
    # Search results and block children both came two at a time.
    assert len(notion.requested("/v1/search")) >= 4 and notion.requested("/children?start_cursor=2")


async def test_the_access_map_decides_who_reads_and_unmapped_pages_stay_with_admins(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(notion, sessions, offline_embedder, "notion-access")
    runbook, leave, offsite = "restart the queue systemctl", "parental leave weeks", "offsite Lisbon"

    # Runbooks and the incident row inherit the handbook's mapping; People Ops has its own.
    assert "restart queue" in await search(sessions, offline_embedder, runbook, "notion-access", BOB)  # a DM
    assert "expired certificate" in await search(sessions, offline_embedder, "certificate", "notion-access", BOB)
    assert "sixteen weeks" not in await search(sessions, offline_embedder, leave, "notion-access", BOB)
    assert "sixteen weeks" in await search(sessions, offline_embedder, leave, "notion-access", CAROL)
    assert "restart queue" in await search(sessions, offline_embedder, runbook, "notion-access", ALICE, BOB)  # channel
    assert "sixteen weeks" not in await search(sessions, offline_embedder, leave, "notion-access", ALICE, BOB)
    # Below a page not shared with the integration and mapped by nobody: admins only, never everyone.
    assert "Lisbon" not in await search(sessions, offline_embedder, offsite, "notion-access", ALICE)
    assert "Lisbon" in await search(sessions, offline_embedder, offsite, "notion-access", ADMIN)


async def test_mapping_and_moves_apply_without_content_requests(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(notion, sessions, offline_embedder, "notion-perm")
    notion.pages[RUNBOOKS].parent = PEOPLE  # moved under People Ops, not edited
    access_map = {**ACCESS_MAP, UNSHARED: {"users": ["UBOB"]}}
    notion.clear_requests()

    summary = await sync_permissions(sessions, source(notion, "notion-perm", access_map=access_map))

    assert summary.status == "succeeded", summary.error
    assert summary.changed == 2  # Runbooks, Stray notes
    assert notion.content_requests() == []
    assert "restart queue" in await search(sessions, offline_embedder, "restart the queue", "notion-perm", CAROL)
    assert "restart queue" not in await search(sessions, offline_embedder, "restart the queue", "notion-perm", BOB)
    assert "Lisbon" in await search(sessions, offline_embedder, "offsite Lisbon", "notion-perm", BOB)


async def test_edits_sync_incrementally_and_deletions_at_the_full_listing(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await synced(notion, sessions, offline_embedder, "notion-edit")
    notion.pages[PEOPLE].blocks = [block("paragraph", "Parental leave is twenty weeks from January.")]
    notion.pages[PEOPLE].last_edited = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")
    notion.clear_requests()

    incremental = await engine.sync(source(notion, "notion-edit"))

    assert incremental.status == "succeeded", incremental.error
    assert incremental.updated == 1 and incremental.deleted == 0
    assert notion.content_requests() == [f"/v1/blocks/{PEOPLE}/children?page_size=100"]
    assert len(notion.requested("/v1/search")) == 1  # newest first: it stopped at the first older result
    assert "twenty weeks" in await search(sessions, offline_embedder, "parental leave", "notion-edit", CAROL)

    del notion.pages[STRAY]
    full = await engine.sync(source(notion, "notion-edit", deletion_check_minutes=1e-9))
    assert full.deleted == 1 and full.updated == 0


async def test_a_429_is_retried_after_its_retry_after(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    notion.rate_limited_once.add("/v1/search")
    began = time.monotonic()

    summary = await SyncEngine(sessions, offline_embedder).sync(source(notion, "notion-429"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5
    assert time.monotonic() - began >= 1.0


async def test_a_refused_token_names_the_source_and_its_variable(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(notion, "notion-refused", token="secret_old"))

    assert summary.status == "failed"
    assert "notion-refused" in (summary.error or "") and "ACME_NOTION_TOKEN" in (summary.error or "")
    assert "secret_old" not in (summary.error or "")


async def test_roots_narrow_the_index_to_the_pages_below_them(
    notion: FakeNotion, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    # The database id names the rows of its data source.
    summary = await SyncEngine(sessions, offline_embedder).sync(
        source(notion, "notion-roots", roots=(PEOPLE, INCIDENTS_DATABASE))
    )

    assert summary.status == "succeeded", summary.error
    assert summary.added == 2
    fetched = [result async for result in source(notion, "notion-roots", roots=(PEOPLE, INCIDENTS_DATABASE)).fetch({})]
    titles = {result.title for result in fetched if isinstance(result, SourceDocument)}
    assert titles == {"People Ops", "Incident 42: checkout outage"}


def test_access_map_entries_name_readers_and_are_never_public() -> None:
    with pytest.raises(ValidationError, match="never mapped public"):
        NotionSourceConfig(name="n", access_map={"workspace": {}})
    with pytest.raises(ValidationError, match="public"):
        NotionSourceConfig(name="n", access_map={"workspace": {"public": True}})
    with pytest.raises(ValidationError, match="access_map keys"):
        NotionSourceConfig(name="n", access_map={"../pages": {"groups": ["x"]}})
