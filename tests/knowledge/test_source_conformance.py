"""The contract every knowledge source keeps, run against each implementation (folder over a temp dir, web over a
loopback website, the SaaS connectors over their loopback APIs). A new connector adds a harness here and must pass
the same tests."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from knowledge.documents import AccessList, SourceDocument, domain_principal, external_group_principal
from knowledge.sources import (
    FetchFailure,
    FolderSource,
    FolderSourceConfig,
    GoogleDriveSource,
    GoogleDriveSourceConfig,
    JiraSource,
    JiraSourceConfig,
    KnownDocument,
    NotionSource,
    NotionSourceConfig,
    Source,
    SourceSecrets,
    Unchanged,
    WebSource,
    WebSourceConfig,
)
from knowledge.sources.abc import FetchResult
from tests.fakes.google_drive_api import DOC as drive_doc
from tests.fakes.google_drive_api import FakeDriveFile, FakeGoogleDrive
from tests.fakes.http_server import BackgroundServer
from tests.fakes.jira_api import FakeIssue, FakeJira
from tests.fakes.jira_api import adf as jira_adf
from tests.fakes.notion_api import FakeNotion, FakeNotionPage
from tests.fakes.notion_api import block as notion_block
from tests.fakes.website import FakeWebsite, html_page


class SourceHarness(ABC):
    """Puts documents where one kind of source reads them, and builds that source.

    Documents whose slug starts with ``restricted-`` are readable only by the ``hr`` group in the source's own terms
    (``restricted_access``); the others by everyone the source lets read (``open_access``).
    """

    restricted_access: AccessList = AccessList.restricted(groups=["hr"])
    open_access: AccessList = AccessList()

    def title_of(self, title: str) -> str:
        """The title the source gives a document written with ``title`` (Jira puts the issue key first)."""
        return title

    @abstractmethod
    def add_document(self, slug: str, title: str, body: str) -> None: ...

    @abstractmethod
    def add_broken_document(self, slug: str) -> None: ...

    @abstractmethod
    def source(self) -> Source: ...


class FolderHarness(SourceHarness):
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add_document(self, slug: str, title: str, body: str) -> None:
        path = self.root / f"{slug}.md"
        existed = path.exists()
        path.write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        if existed:  # make sure the edit is visible even on file systems with coarse timestamps
            status = path.stat()
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))

    def add_broken_document(self, slug: str) -> None:
        (self.root / f"{slug}.txt").write_bytes(b"\xff\xfe not utf-8 \xe9")

    def source(self) -> Source:
        config = FolderSourceConfig(
            name="conformance", path=self.root, access=[{"pattern": "restricted-*", "groups": ["hr"]}]
        )
        return FolderSource(config)


class WebHarness(SourceHarness):
    def __init__(self, website: FakeWebsite, base_url: str) -> None:
        self.website, self.base_url = website, base_url
        self.slugs: list[str] = []
        self._publish_index()

    def _publish_index(self) -> None:
        self.website.page("/kb/", html_page("Knowledge base", "<p>Index.</p>", [f"/kb/{slug}" for slug in self.slugs]))

    def add_document(self, slug: str, title: str, body: str) -> None:
        self.website.page(f"/kb/{slug}", html_page(title, f"<p>{body}</p>"))
        if slug not in self.slugs:
            self.slugs.append(slug)
            self._publish_index()

    def add_broken_document(self, slug: str) -> None:
        self.website.page(f"/kb/{slug}", b"", status=500)
        self.slugs.append(slug)
        self._publish_index()

    def source(self) -> Source:
        config = WebSourceConfig(
            name="conformance",
            start_url=f"{self.base_url}/kb/",
            delay_seconds=0,
            max_retries=0,
            access=[{"pattern": "kb/restricted-*", "groups": ["hr"]}],
            allowed_networks=["127.0.0.0/8"],  # the harness website serves on loopback
        )
        return WebSource(config)


class JiraHarness(SourceHarness):
    """Issues of project KB (Browse projects: anyone) and, for restricted slugs, of project HR (group hr)."""

    restricted_access = AccessList.restricted(principals=[external_group_principal("conformance", "hr")])

    def __init__(self, jira: FakeJira) -> None:
        self.jira = jira
        jira.browse = {"KB": [("anyone", "")], "HR": [("group", "hr")]}
        jira.groups = {"hr": []}
        self.ids: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.writes = 0

    def _issue(self, slug: str) -> str:
        if slug not in self.ids:
            self.ids[slug] = str(100 + len(self.ids))
        return self.ids[slug]

    def add_document(self, slug: str, title: str, body: str) -> None:
        issue_id = self._issue(slug)
        project = "HR" if slug.startswith("restricted-") else "KB"
        # Each write is a new ``updated``, as Jira stamps every edit.
        self.writes += 1
        when = (datetime.now(UTC) + timedelta(seconds=self.writes)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        self.jira.issues[issue_id] = FakeIssue(f"{project}-{issue_id}", title, jira_adf(body), updated=when)
        self.keys[title] = f"{project}-{issue_id}"

    def title_of(self, title: str) -> str:
        return f"{self.keys[title]}: {title}"

    def add_broken_document(self, slug: str) -> None:
        issue_id = self._issue(slug)
        self.jira.issues[issue_id] = FakeIssue(f"KB-{issue_id}", "Broken", jira_adf("x"), comments=[("a", "b")] * 3)
        self.jira.broken_comments.add(issue_id)

    def source(self) -> Source:
        config = JiraSourceConfig(
            name="conformance", base_url=self.jira.url, projects=("KB", "HR"), email_env="E", max_retries=0
        )
        secrets = SourceSecrets(values={"JIRA_TOKEN": SecretStr(self.jira.token), "E": SecretStr(self.jira.email)})
        return JiraSource(config, secrets)


class NotionHarness(SourceHarness):
    """Pages under a top-level page mapped to ``hr`` (restricted slugs) or to ``staff`` (the others)."""

    restricted_access = AccessList.restricted(groups=["hr"])
    open_access = AccessList.restricted(groups=["staff"])
    top = {"open": "e5e5e5e5-0000-4000-8000-000000000001", "restricted": "e5e5e5e5-0000-4000-8000-000000000002"}

    def __init__(self, notion: FakeNotion) -> None:
        self.notion = notion
        for kind, page_id in self.top.items():
            notion.pages[page_id] = FakeNotionPage(f"{kind} space", [notion_block("paragraph", f"The {kind} space.")])
        self.ids: dict[str, str] = {}
        self.writes = 0

    def add_document(self, slug: str, title: str, body: str) -> None:
        page_id = self.ids.setdefault(slug, f"f6f6f6f6-0000-4000-8000-{len(self.ids) + 1:012d}")
        self.writes += 1
        when = f"2026-11-01T10:{self.writes:02d}:00.000Z"
        parent = self.top["restricted" if slug.startswith("restricted-") else "open"]
        self.notion.pages[page_id] = FakeNotionPage(title, [notion_block("paragraph", body)], parent, when)

    def add_broken_document(self, slug: str) -> None:
        self.add_document(slug, "Broken", "x")
        self.notion.broken.add(self.ids[slug])

    def source(self) -> Source:
        config = NotionSourceConfig(
            name="conformance",
            api_url=self.notion.url,
            max_retries=0,
            access_map={self.top["open"]: {"groups": ["staff"]}, self.top["restricted"]: {"groups": ["hr"]}},
        )
        return NotionSource(config, SourceSecrets(values={"NOTION_TOKEN": SecretStr(self.notion.token)}))


class GoogleDriveHarness(SourceHarness):
    """Docs in one folder shared with the acme.example domain, restricted ones with the group hr@acme.example."""

    restricted_access = AccessList.restricted(principals=[external_group_principal("conformance", "hr@acme.example")])
    open_access = AccessList.restricted(principals=[domain_principal("acme.example")])

    def __init__(self, drive: FakeGoogleDrive) -> None:
        self.drive = drive
        self.ids: dict[str, str] = {}

    def add_document(self, slug: str, title: str, body: str) -> None:
        file_id = self.ids.setdefault(slug, f"file{len(self.ids) + 1}")
        grant = (
            ("group", "hr@acme.example", "reader")
            if slug.startswith("restricted-")
            else ("domain", "acme.example", "reader")
        )
        previous = self.drive.files.get(file_id)
        version = previous.version + 1 if previous else 1
        content = f"# {title}\n\n{body}\n".encode()
        self.drive.files[file_id] = FakeDriveFile(title, drive_doc, "kb", content, [grant], version=version)

    def add_broken_document(self, slug: str) -> None:
        self.add_document(slug, "Broken", "x")
        self.drive.broken.add(self.ids[slug])

    def source(self) -> Source:
        config = GoogleDriveSourceConfig(name="conformance", api_url=self.drive.url, folders=("kb",), max_retries=0)
        return GoogleDriveSource(
            config, SourceSecrets(values={"GOOGLE_SERVICE_ACCOUNT_JSON": SecretStr(self.drive.key_json())})
        )


@pytest.fixture(params=["folder", "web", "jira", "notion", "gdrive"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceHarness]:
    if request.param == "folder":
        yield FolderHarness(tmp_path / "docs")
        return
    if request.param == "gdrive":
        drive = FakeGoogleDrive().start()
        yield GoogleDriveHarness(drive)
        drive.stop()
        return
    if request.param == "notion":
        notion = FakeNotion().start()
        yield NotionHarness(notion)
        notion.stop()
        return
    if request.param == "jira":
        jira = FakeJira().start()
        yield JiraHarness(jira)
        jira.stop()
        return
    website = FakeWebsite()
    server: BackgroundServer = website.start()
    yield WebHarness(website, server.url)
    server.stop()


async def fetch_all(source: Source, known: dict[str, KnownDocument] | None = None) -> dict[str, FetchResult]:
    results: dict[str, FetchResult] = {}
    async for result in source.fetch(known or {}):
        assert result.external_id not in results, f"{result.external_id} yielded twice in one listing"
        results[result.external_id] = result
    return results


def documents(results: dict[str, FetchResult]) -> dict[str, SourceDocument]:
    return {key: result for key, result in results.items() if isinstance(result, SourceDocument)}


def known_from(results: dict[str, FetchResult]) -> dict[str, KnownDocument]:
    return {
        key: KnownDocument(
            external_id=key,
            content_hash=hashlib.sha256(document.content.encode()).hexdigest(),
            etag=document.etag,
            last_modified=document.last_modified,
        )
        for key, document in documents(results).items()
    }


def populate(harness: SourceHarness) -> None:
    harness.add_document("vpn", "VPN setup", "Use WireGuard.")
    harness.add_document("printers", "Printers", "Floor three.")
    harness.add_document("restricted-pay", "Pay bands", "Band four.")


async def test_ids_are_stable_across_runs_and_each_appears_once(harness: SourceHarness) -> None:
    populate(harness)

    first, second = await fetch_all(harness.source()), await fetch_all(harness.source())

    assert len(documents(first)) >= 3
    assert set(first) == set(second)


async def test_documents_have_absolute_urls_titles_content_and_access(harness: SourceHarness) -> None:
    populate(harness)
    source = harness.source()

    results = await fetch_all(source)

    assert source.listing_complete
    for document in documents(results).values():
        parts = urlsplit(document.url)
        assert parts.scheme in ("http", "https", "file") and (parts.netloc or parts.path.startswith("/"))
        assert document.title.strip()
        assert document.content.strip()
        assert document.source == source.name
        assert isinstance(document.access, AccessList)
    by_title = {document.title: document for document in documents(results).values()}
    assert by_title[harness.title_of("Pay bands")].access == harness.restricted_access
    assert by_title[harness.title_of("VPN setup")].access == harness.open_access


async def test_a_failing_document_is_reported_alone(harness: SourceHarness) -> None:
    populate(harness)
    harness.add_broken_document("broken")
    source = harness.source()

    results = await fetch_all(source)

    failures = [result for result in results.values() if isinstance(result, FetchFailure)]
    assert len(failures) == 1 and failures[0].reason.strip()
    assert {document.title for document in documents(results).values()} >= {
        harness.title_of(title) for title in ("VPN setup", "Printers", "Pay bands")
    }
    assert source.listing_complete


async def test_unchanged_documents_are_confirmed_and_edits_are_fetched(harness: SourceHarness) -> None:
    populate(harness)
    first = await fetch_all(harness.source())
    known = known_from(first)

    second = await fetch_all(harness.source(), known)

    assert set(second) == set(first)
    for key, result in second.items():
        assert isinstance(result, Unchanged) or (
            isinstance(result, SourceDocument) and result.content == documents(first)[key].content
        )

    harness.add_document("printers", "Printers", "Floor four since the move.")
    third = await fetch_all(harness.source(), known)

    edited = [document for document in documents(third).values() if document.title == harness.title_of("Printers")]
    assert len(edited) == 1 and "Floor four" in edited[0].content
