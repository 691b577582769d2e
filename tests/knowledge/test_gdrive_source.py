"""The Google Drive connector against loopback Google token, Drive v3 and Directory APIs: what reaches the index,
who can retrieve it (users, groups, the domain, links), and what each sync asks for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import Embedder, Reader, SyncEngine, sync_permissions
from knowledge.documents import SourceDocument
from knowledge.errors import SourceAuthError
from knowledge.sources import GoogleDriveSource, GoogleDriveSourceConfig, SourceSecrets
from tests.fakes.google_drive_api import DOC, DOCX, FOLDER, PDF, SHEET, SLIDES, FakeDriveFile, FakeGoogleDrive
from tests.knowledge.document_files import docx_bytes, pdf_bytes
from tests.knowledge.reader_search import passages_for

ALICE = Reader(user_id="UALICE", email="alice@acme.example")  # sre, security
BOB = Reader(user_id="UBOB", email="bob@acme.example")  # sre
CAROL = Reader(user_id="UCAROL", email="carol@acme.example")
EVE = Reader(user_id="UEVE", email="eve@contractor.example")


@pytest.fixture
def drive() -> Iterator[FakeGoogleDrive]:
    fake = FakeGoogleDrive(groups={"sre@acme.example": ["alice@acme.example", "bob@acme.example"]})
    fake.groups["security@acme.example"] = ["alice@acme.example"]
    fake.files = {
        "doc1": FakeDriveFile(
            "Onboarding guide",
            DOC,
            "root1",
            b"# Onboarding\n\n## Laptops\n\nLaptops ship from the Denver office.\n",
            [("domain", "acme.example", "reader")],
        ),
        "sheet1": FakeDriveFile(
            "On-call rota",
            SHEET,
            "root1",
            b"Week,Engineer\n1,Alice Smith\n2,Bob Jones\n",
            [("group", "sre@acme.example", "reader")],
        ),
        "sub1": FakeDriveFile("Policies", FOLDER, "root1"),
        "pdf1": FakeDriveFile(
            "Travel policy.pdf", PDF, "sub1", pdf_bytes(), [("user", "carol@acme.example", "writer")]
        ),
        "slides1": FakeDriveFile(
            "Quarterly review", SLIDES, "sub1", b"Revenue grew twelve percent this quarter.", [("anyone", "", "reader")]
        ),
        "png1": FakeDriveFile("logo.png", "image/png", "sub1", b"\x89PNG", [("anyone", "", "reader")]),
        "docx1": FakeDriveFile(
            "Laptop handbook.docx",
            DOCX,
            "drive1",
            docx_bytes(),
            [("group", "security@acme.example", "organizer")],
            drive="drive1",
        ),
    }
    fake.start()
    yield fake
    fake.stop()


def source(drive: FakeGoogleDrive, name: str, **options: Any) -> GoogleDriveSource:
    key = options.pop("key", None) or drive.key_json()
    config = GoogleDriveSourceConfig(
        name=name,
        api_url=drive.url,
        folders=("root1",),
        shared_drives=("drive1",),
        credentials_env="ACME_GOOGLE_KEY",
        impersonate="admin@acme.example",
        max_retries=options.pop("max_retries", 2),
        **options,
    )
    return GoogleDriveSource(config, SourceSecrets(values={"ACME_GOOGLE_KEY": SecretStr(key)}))


async def search(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> str:
    passages = await passages_for(sessions, embedder, query, source_name, *readers)
    return "\n".join(f"{p.title} | {' > '.join(p.heading_path)} | {p.url} | {p.text}" for p in passages)


async def synced(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], embedder: Embedder, name: str
) -> None:
    summary = await SyncEngine(sessions, embedder).sync(source(drive, name))
    assert summary.status == "succeeded", summary.error
    permissions = await sync_permissions(sessions, source(drive, name))
    assert permissions.status == "succeeded", permissions.error


async def test_docs_sheets_slides_pdfs_and_word_files_reach_the_index(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(drive, "drive-index"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5  # the PNG is not indexed, the folder is walked
    # The token came from the key's token_uri, for the impersonated user, with read-only scopes.
    assert drive.grants[0]["sub"] == "admin@acme.example"
    assert "drive.readonly" in drive.grants[0]["scope"]
    fetched = [r async for r in source(drive, "drive-index").fetch({}) if isinstance(r, SourceDocument)]
    rota = next(d for d in fetched if d.title == "On-call rota")
    assert "| Week | Engineer |\n| --- | --- |\n| 1 | Alice Smith |" in rota.content
    await sync_permissions(sessions, source(drive, "drive-index"))
    found = await search(sessions, offline_embedder, "laptops Denver office", "drive-index", BOB)
    assert "Onboarding > Laptops" in found
    assert (
        "replacement cycle"
        in (await search(sessions, offline_embedder, "laptop replacement", "drive-index", ALICE)).lower()
    )
    assert drive.requested("pageToken=")  # listings came two files a page


async def test_users_groups_domain_and_links_decide_who_reads(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(drive, sessions, offline_embedder, "drive-access")
    rota, onboarding = "on-call rota engineer week", "laptops Denver office"

    assert "Bob Jones" in await search(sessions, offline_embedder, rota, "drive-access", BOB)  # a DM, through sre
    assert "Bob Jones" not in await search(sessions, offline_embedder, rota, "drive-access", CAROL)
    assert "Bob Jones" in await search(sessions, offline_embedder, rota, "drive-access", ALICE, BOB)  # a channel
    assert "Bob Jones" not in await search(sessions, offline_embedder, rota, "drive-access", ALICE, CAROL)
    assert "travel portal" in await search(sessions, offline_embedder, "book travel portal", "drive-access", CAROL)
    assert "travel portal" not in await search(sessions, offline_embedder, "book travel portal", "drive-access", BOB)
    # "Anyone at acme.example" and "anyone with the link" (the domain by default): not the contractor.
    assert "Denver" in await search(sessions, offline_embedder, onboarding, "drive-access", CAROL)
    assert "Denver" not in await search(sessions, offline_embedder, onboarding, "drive-access", EVE)
    assert "twelve percent" in await search(sessions, offline_embedder, "revenue quarter", "drive-access", BOB)
    assert "twelve percent" not in await search(sessions, offline_embedder, "revenue quarter", "drive-access", EVE)
    # A shared drive's file: permissions from permissions.list, the group's members from the Directory API.
    assert "Replacement cycle" in await search(sessions, offline_embedder, "laptop replacement", "drive-access", ALICE)
    assert "Replacement cycle" not in await search(
        sessions, offline_embedder, "laptop replacement", "drive-access", BOB
    )


async def test_sharing_and_membership_changes_apply_without_content_requests(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await synced(drive, sessions, offline_embedder, "drive-perm")
    drive.files["sheet1"].permissions = [
        ("group", "sre@acme.example", "reader"),
        ("user", "carol@acme.example", "reader"),
    ]
    drive.groups["sre@acme.example"] = ["alice@acme.example"]  # Bob leaves the group
    drive.clear_requests()

    summary = await sync_permissions(sessions, source(drive, "drive-perm"))

    assert summary.status == "succeeded", summary.error
    assert summary.changed == 1
    assert drive.content_requests() == []
    rota = "on-call rota engineer week"
    assert "Bob Jones" in await search(sessions, offline_embedder, rota, "drive-perm", CAROL)
    assert "Bob Jones" not in await search(sessions, offline_embedder, rota, "drive-perm", BOB)


async def test_edits_come_from_the_changes_feed_and_deletions_from_the_full_listing(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await synced(drive, sessions, offline_embedder, "drive-edit")
    drive.change("doc1", when="2030-01-01T09:00:00.000Z", content=b"# Onboarding\n\nLaptops now ship from Austin.\n")
    drive.clear_requests()

    incremental = await engine.sync(source(drive, "drive-edit"))

    assert incremental.status == "succeeded", incremental.error
    assert incremental.updated == 1 and incremental.deleted == 0
    assert drive.requested("/drive/v3/changes?") and not drive.requested("/drive/v3/files?")
    assert drive.content_requests() == ["/drive/v3/files/doc1/export?mimeType=text%2Fmarkdown"]
    assert "Austin" in await search(sessions, offline_embedder, "laptops ship", "drive-edit", CAROL)

    del drive.files["slides1"]
    full = await engine.sync(source(drive, "drive-edit", deletion_check_minutes=1e-9))
    assert full.deleted == 1 and full.updated == 0


async def test_a_429_is_retried_after_its_retry_after(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    drive.rate_limited_once.add("/drive/v3/files")
    began = time.monotonic()

    summary = await SyncEngine(sessions, offline_embedder).sync(source(drive, "drive-429"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 5
    assert time.monotonic() - began >= 1.0


async def test_a_bad_or_refused_key_names_the_source_and_its_variable(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    with pytest.raises(SourceAuthError, match="ACME_GOOGLE_KEY") as raised:
        source(drive, "drive-bad", key="not json")
    assert "not json" not in str(raised.value)

    other = FakeGoogleDrive(client_email="someone-else@acme-project.iam.gserviceaccount.com")
    other.server = drive.server  # a key Google does not know: same token URI, another account
    summary = await SyncEngine(sessions, offline_embedder).sync(source(drive, "drive-refused", key=other.key_json()))

    assert summary.status == "failed"
    assert "drive-refused" in (summary.error or "") and "ACME_GOOGLE_KEY" in (summary.error or "")
    assert "PRIVATE KEY" not in (summary.error or "")


async def test_unlisted_groups_let_nobody_through_and_public_links_are_opt_in(
    drive: FakeGoogleDrive, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    drive.directory_status = 403
    engine = SyncEngine(sessions, offline_embedder)
    assert (await engine.sync(source(drive, "drive-closed", public_links=True))).status == "succeeded"

    permissions = await sync_permissions(sessions, source(drive, "drive-closed", public_links=True))

    assert "could not be listed" in (permissions.error or "")
    assert "Bob Jones" not in await search(sessions, offline_embedder, "on-call rota", "drive-closed", BOB)
    assert "twelve percent" in await search(sessions, offline_embedder, "revenue quarter", "drive-closed", EVE)


def test_the_config_needs_folders_or_shared_drives() -> None:
    with pytest.raises(ValidationError, match="folders"):
        GoogleDriveSourceConfig(name="g")
    config = GoogleDriveSourceConfig(name="g", folders=("abc",), impersonate="admin@Acme.example")
    assert config.secret_variables() == ("GOOGLE_SERVICE_ACCOUNT_JSON",) and config.workspace_domain == "acme.example"
