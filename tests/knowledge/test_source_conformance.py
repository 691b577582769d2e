"""The contract every knowledge source keeps, run against each implementation (folder over a temp dir, web over a
loopback website). A new connector adds a harness here and must pass the same tests."""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from knowledge.documents import AccessList, SourceDocument
from knowledge.sources import (
    FetchFailure,
    FolderSource,
    FolderSourceConfig,
    KnownDocument,
    Source,
    Unchanged,
    WebSource,
    WebSourceConfig,
)
from knowledge.sources.abc import FetchResult
from tests.fakes.http_server import BackgroundServer
from tests.fakes.website import FakeWebsite, html_page


class SourceHarness(ABC):
    """Puts documents where one kind of source reads them, and builds that source."""

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


@pytest.fixture(params=["folder", "web"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceHarness]:
    if request.param == "folder":
        yield FolderHarness(tmp_path / "docs")
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
    assert by_title["Pay bands"].access == AccessList.restricted(groups=["hr"])
    assert by_title["VPN setup"].access.public


async def test_a_failing_document_is_reported_alone(harness: SourceHarness) -> None:
    populate(harness)
    harness.add_broken_document("broken")
    source = harness.source()

    results = await fetch_all(source)

    failures = [result for result in results.values() if isinstance(result, FetchFailure)]
    assert len(failures) == 1 and failures[0].reason.strip()
    assert {document.title for document in documents(results).values()} >= {"VPN setup", "Printers", "Pay bands"}
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

    edited = [document for document in documents(third).values() if document.title == "Printers"]
    assert len(edited) == 1 and "Floor four" in edited[0].content
