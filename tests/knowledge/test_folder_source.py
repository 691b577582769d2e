"""The folder source: which files it yields, their ids, URLs and access lists, and how it reports failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knowledge.documents import AccessList, SourceDocument
from knowledge.errors import SourceUnavailableError
from knowledge.sources import FetchFailure, FolderSource, FolderSourceConfig, KnownDocument, Unchanged
from knowledge.sources.abc import FetchResult
from tests.knowledge.document_files import docx_bytes, pdf_bytes


async def fetch_all(source: FolderSource, known: dict[str, KnownDocument] | None = None) -> dict[str, FetchResult]:
    return {result.external_id: result async for result in source.fetch(known or {})}


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def known_from(results: dict[str, FetchResult]) -> dict[str, KnownDocument]:
    return {
        key: KnownDocument(external_id=key, content_hash="h", etag=result.etag, last_modified=result.last_modified)
        for key, result in results.items()
        if isinstance(result, SourceDocument)
    }


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    root = tmp_path / "handbook"
    write(root, "index.md", "# Northwind handbook\n\nStart here.\n")
    write(
        root, "it/vpn.html", "<html><head><title>VPN</title></head><body><main><p>WireGuard.</p></main></body></html>"
    )
    write(root, "it/printers.txt", "Printers\n========\n\nFloor 3.\n")
    write(root, "hr/compensation-bands.md", "# Compensation bands\n\nBand 4: 70k.\n")
    write(root, "hr/holidays.md", "# Holidays\n\n25 days.\n")
    write(root, "security/incident-response-runbook.md", "# Incident response\n\nCall the on-call lead.\n")
    write(root, "travel/policy.pdf", pdf_bytes())
    write(root, "it/laptops.docx", docx_bytes())
    write(root, "drafts/new-policy.md", "# Not ready\n")
    write(root, "notes/scratch.tmp", "temporary")
    write(root, "it/diagram.png", b"\x89PNG\r\n")
    write(root, ".git/HEAD", "ref: refs/heads/main\n")
    write(root, ".hidden.md", "# Hidden\n")
    return root


async def test_yields_every_supported_file_except_ignored_and_hidden_ones(handbook: Path) -> None:
    config = FolderSourceConfig(name="handbook", path=handbook, ignore=["drafts/**", "*.tmp"])

    results = await fetch_all(FolderSource(config))

    assert sorted(results) == [
        "hr/compensation-bands.md",
        "hr/holidays.md",
        "index.md",
        "it/laptops.docx",
        "it/printers.txt",
        "it/vpn.html",
        "security/incident-response-runbook.md",
        "travel/policy.pdf",
    ]
    assert all(isinstance(result, SourceDocument) for result in results.values())
    titles = {key: result.title for key, result in results.items() if isinstance(result, SourceDocument)}
    assert titles["index.md"] == "Northwind handbook"
    assert titles["it/vpn.html"] == "VPN"
    assert titles["it/printers.txt"] == "Printers"
    assert titles["travel/policy.pdf"] == "Travel policy"
    assert titles["it/laptops.docx"] == "Laptop policy"


async def test_include_patterns_narrow_the_listing(handbook: Path) -> None:
    config = FolderSourceConfig(name="handbook", path=handbook, include=["hr/*.md"])

    assert sorted(await fetch_all(FolderSource(config))) == ["hr/compensation-bands.md", "hr/holidays.md"]


async def test_urls_join_base_url_and_relative_path_and_default_to_file_urls(handbook: Path) -> None:
    with_base = FolderSourceConfig(name="h", path=handbook, base_url="https://handbook.northwind.example")
    without_base = FolderSourceConfig(name="h", path=handbook)

    published = (await fetch_all(FolderSource(with_base)))["hr/holidays.md"]
    local = (await fetch_all(FolderSource(without_base)))["hr/holidays.md"]

    assert isinstance(published, SourceDocument) and isinstance(local, SourceDocument)
    assert published.url == "https://handbook.northwind.example/hr/holidays.md"
    assert local.url == (handbook / "hr" / "holidays.md").resolve().as_uri()
    assert published.updated_at is not None and published.updated_at.tzinfo is not None


async def test_access_rules_first_match_wins_and_unmatched_files_are_public(handbook: Path) -> None:
    config = FolderSourceConfig.model_validate(
        {
            "name": "handbook",
            "path": str(handbook),
            "access": [
                {"pattern": "hr/compensation-*.md", "groups": ["hr"]},
                {"pattern": "security/**", "groups": ["security"], "users": ["U0CISO"]},
                {"pattern": "hr/**", "groups": ["hr", "managers"]},
            ],
        }
    )

    results = await fetch_all(FolderSource(config))

    def access(key: str) -> AccessList:
        result = results[key]
        assert isinstance(result, SourceDocument)
        return result.access

    assert access("hr/compensation-bands.md") == AccessList.restricted(groups=["hr"])
    assert access("hr/holidays.md") == AccessList.restricted(groups=["hr", "managers"])
    assert access("security/incident-response-runbook.md") == AccessList.restricted(
        users=["U0CISO"], groups=["security"]
    )
    assert access("index.md").public


async def test_default_access_applies_when_no_rule_matches(handbook: Path) -> None:
    config = FolderSourceConfig.model_validate(
        {
            "name": "handbook",
            "path": str(handbook),
            "access": [{"pattern": "index.md", "public": True}],
            "default_access": {"groups": ["staff"]},
        }
    )

    results = await fetch_all(FolderSource(config))

    index, holidays = results["index.md"], results["hr/holidays.md"]
    assert isinstance(index, SourceDocument) and index.access.public
    assert isinstance(holidays, SourceDocument) and holidays.access == AccessList.restricted(groups=["staff"])


def test_an_access_rule_must_grant_someone() -> None:
    with pytest.raises(ValueError, match="public = true"):
        FolderSourceConfig.model_validate({"name": "h", "path": "/tmp", "access": [{"pattern": "hr/**"}]})


async def test_broken_and_oversized_files_fail_alone_with_reasons(handbook: Path) -> None:
    write(handbook, "it/latin1.txt", b"Caf\xe9 opening hours\n")
    write(handbook, "travel/locked.pdf", pdf_bytes(password="hunter2"))
    write(handbook, "travel/broken.docx", b"not a zip")
    write(handbook, "big.md", "# Big\n\n" + "x" * 200_000)
    config = FolderSourceConfig(name="handbook", path=handbook, max_file_bytes=100_000)

    results = await fetch_all(FolderSource(config))

    failures = {key: result.reason for key, result in results.items() if isinstance(result, FetchFailure)}
    assert set(failures) == {"it/latin1.txt", "travel/locked.pdf", "travel/broken.docx", "big.md"}
    assert "not valid UTF-8" in failures["it/latin1.txt"]
    assert "encrypted PDF" in failures["travel/locked.pdf"]
    assert "not a readable .docx" in failures["travel/broken.docx"]
    assert "above the limit of 100,000" in failures["big.md"] and "max_file_bytes" in failures["big.md"]
    assert isinstance(results["index.md"], SourceDocument)
    assert isinstance(results["travel/policy.pdf"], SourceDocument)


async def test_unchanged_files_are_not_read_again_and_edits_or_new_access_are_picked_up(handbook: Path) -> None:
    config = FolderSourceConfig(name="handbook", path=handbook, ignore=["*.tmp", "drafts/"])
    first = await fetch_all(FolderSource(config))

    unchanged_run = await fetch_all(FolderSource(config), known_from(first))
    assert all(isinstance(result, Unchanged) for result in unchanged_run.values())
    assert set(unchanged_run) == set(first)

    edited = handbook / "hr" / "holidays.md"
    edited.write_text("# Holidays\n\n27 days.\n", encoding="utf-8")
    os.utime(edited, ns=(edited.stat().st_atime_ns, edited.stat().st_mtime_ns + 1_000_000))
    restricted = config.model_copy(
        update={
            "access": FolderSourceConfig.model_validate(
                {"name": "x", "path": "/", "access": [{"pattern": "index.md", "groups": ["staff"]}]}
            ).access
        }
    )
    after_edit = await fetch_all(FolderSource(restricted), known_from(first))

    changed = {key for key, result in after_edit.items() if isinstance(result, SourceDocument)}
    assert changed == {"hr/holidays.md", "index.md"}
    holidays = after_edit["hr/holidays.md"]
    assert isinstance(holidays, SourceDocument) and "27 days" in holidays.content


async def test_a_missing_folder_fails_the_whole_listing(tmp_path: Path) -> None:
    source = FolderSource(FolderSourceConfig(name="gone", path=tmp_path / "nowhere"))

    with pytest.raises(SourceUnavailableError, match="does not exist"):
        await fetch_all(source)


@pytest.fixture
def secret_beside(tmp_path: Path) -> Path:
    """A file next to the handbook folder, as `../secret.env` would be in a checked-out repository."""
    return write(tmp_path, "secret.env", "SLACK_BOT_TOKEN=xoxb-not-for-the-index\n")


def refused_reasons(results: dict[str, FetchResult]) -> dict[str, str]:
    return {
        key: result.reason for key, result in results.items() if isinstance(result, FetchFailure) and result.refused
    }


def assert_secret_not_read(results: dict[str, FetchResult]) -> None:
    for result in results.values():
        assert not (isinstance(result, SourceDocument) and "xoxb-not-for-the-index" in result.content)


async def test_a_symlinked_file_leading_outside_the_folder_is_refused_and_reported(
    handbook: Path, secret_beside: Path
) -> None:
    (handbook / "notes.md").symlink_to(Path("..") / secret_beside.name)
    (handbook / "it" / "environ.md").symlink_to("/proc/self/environ")

    results = await fetch_all(FolderSource(FolderSourceConfig(name="handbook", path=handbook)))

    refused = refused_reasons(results)
    assert set(refused) == {"notes.md", "it/environ.md"}
    assert "outside the source folder" in refused["notes.md"]
    assert_secret_not_read(results)
    assert isinstance(results["index.md"], SourceDocument)


async def test_a_symlinked_folder_leading_outside_is_refused_and_nothing_below_it_is_read(
    handbook: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    write(outside, "credentials.md", "# Credentials\n\nxoxb-not-for-the-index\n")
    (handbook / "linked").symlink_to(outside, target_is_directory=True)

    results = await fetch_all(FolderSource(FolderSourceConfig(name="handbook", path=handbook)))

    assert set(refused_reasons(results)) == {"linked/"}
    assert not any(key.startswith("linked/credentials") for key in results)
    assert_secret_not_read(results)


async def test_symlinks_that_stay_inside_the_folder_are_followed_and_loops_end(handbook: Path) -> None:
    (handbook / "start.md").symlink_to("index.md")
    (handbook / "people").symlink_to("hr", target_is_directory=True)
    (handbook / "it" / "again").symlink_to("..", target_is_directory=True)

    results = await fetch_all(FolderSource(FolderSourceConfig(name="handbook", path=handbook)))

    start, holidays = results["start.md"], results["people/holidays.md"]
    assert isinstance(start, SourceDocument) and start.title == "Northwind handbook"
    assert isinstance(holidays, SourceDocument) and "25 days" in holidays.content
    assert refused_reasons(results) == {}
    assert not any(key.startswith("it/again/") for key in results)


async def test_a_file_swapped_for_an_outside_symlink_after_the_listing_is_not_read(
    handbook: Path, secret_beside: Path
) -> None:
    source = FolderSource(FolderSourceConfig(name="handbook", path=handbook))
    swapped = handbook / "security" / "incident-response-runbook.md"
    results: dict[str, FetchResult] = {}

    async for result in source.fetch({}):
        if not results:  # the listing is done once the first file is yielded; now the file becomes a link
            swapped.unlink()
            swapped.symlink_to(secret_beside)
        results[result.external_id] = result

    assert set(refused_reasons(results)) == {"security/incident-response-runbook.md"}
    assert_secret_not_read(results)
