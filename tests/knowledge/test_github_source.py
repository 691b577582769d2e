"""The GitHub connector against a loopback GitHub API: what reaches the index, and who can retrieve it."""

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
    HybridRetriever,
    Reader,
    ReaderScope,
    SearchQuery,
    SyncEngine,
    knowledge_status,
    sync_permissions,
)
from knowledge.sources import GitHubSource, GitHubSourceConfig, SourceSecrets
from tests.fakes.github_api import FakeGitHub, FakeRepository
from tests.knowledge.reader_search import passages_for

ALICE = Reader(user_id="UALICE", email="alice@acme.example")  # a direct collaborator of the private repo
BOB = Reader(user_id="UBOB", email="Bob@Acme.example")  # in the sre team
CAROL = Reader(user_id="UCAROL", email="carol@acme.example")  # neither


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(
        emails={"alice": "alice@acme.example", "bob": "bob@acme.example", "carol": "carol@acme.example"},
        teams={"acme/sre": ["bob"]},
    )
    fake.repositories["acme/handbook"] = FakeRepository(
        files={
            "docs/holidays.md": "# Holidays\n\nEveryone gets twenty-six days of paid holiday each year.\n",
            "docs/expenses.rst": "Expenses\n========\n\nReceipts go to finance within thirty days.\n",
            "README.txt": "Handbook of Acme.\n",
            "src/app.py": "print('not documentation')\n",
        }
    )
    fake.repositories["acme/runbooks"] = FakeRepository(
        private=True,
        collaborators=["alice", "mallory-no-email"],
        teams=["sre"],
        files={"oncall/pager.md": "# Pager rotation\n\nThe pager passphrase rotation happens every Monday.\n"},
    )
    fake.start()
    yield fake
    fake.stop()


def source(github: FakeGitHub, name: str, **options: Any) -> GitHubSource:
    token = options.pop("token", github.token)
    config = GitHubSourceConfig(
        name=name,
        repos=options.pop("repos", ("acme/handbook", "acme/runbooks")),
        api_url=github.url,
        token_env="ACME_GITHUB_TOKEN",
        max_retries=options.pop("max_retries", 2),
        **options,
    )
    secrets = SourceSecrets(values={"ACME_GITHUB_TOKEN": SecretStr(token)})
    return GitHubSource(config, secrets)


async def titles_for(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder, query: str, source_name: str, *readers: Reader
) -> set[str]:
    passages = await passages_for(sessions, embedder, query, source_name, *readers)
    return {passage.title for passage in passages}


async def test_files_reach_the_index_with_links_to_their_branch(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    summary = await SyncEngine(sessions, offline_embedder).sync(source(github, "gh-files"))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 4  # three handbook files (not src/app.py) and the runbook
    async with sessions() as session:
        urls = dict(
            (await session.execute(text("SELECT external_id, url FROM kb_documents ORDER BY external_id"))).all()
        )
    assert urls["acme/handbook/docs/holidays.md"] == "https://github.example/acme/handbook/blob/main/docs/holidays.md"
    assert "acme/handbook/src/app.py" not in urls
    assert "Expenses" in await titles_for(sessions, offline_embedder, "receipts finance", "gh-files", CAROL)


async def test_private_repository_is_read_by_collaborators_and_team_members_only(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await SyncEngine(sessions, offline_embedder).sync(source(github, "gh-access"))
    await sync_permissions(sessions, source(github, "gh-access"))  # the teams' members
    query = "pager passphrase rotation"

    assert "Pager rotation" in await titles_for(sessions, offline_embedder, query, "gh-access", ALICE)  # DM
    assert "Pager rotation" in await titles_for(sessions, offline_embedder, query, "gh-access", BOB)  # via sre
    assert "Pager rotation" not in await titles_for(sessions, offline_embedder, query, "gh-access", CAROL)
    # A channel reads only what every member may read.
    assert "Pager rotation" in await titles_for(sessions, offline_embedder, query, "gh-access", ALICE, BOB)
    assert "Pager rotation" not in await titles_for(sessions, offline_embedder, query, "gh-access", ALICE, CAROL)
    assert "Holidays" in await titles_for(sessions, offline_embedder, "paid holiday", "gh-access", ALICE, CAROL)


async def test_permission_change_applies_without_fetching_content(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    await SyncEngine(sessions, offline_embedder).sync(source(github, "gh-perm"))
    await sync_permissions(sessions, source(github, "gh-perm"))
    github.repositories["acme/runbooks"].collaborators.remove("alice")
    github.teams["acme/sre"].append("carol")
    github.clear_requests()

    summary = await sync_permissions(sessions, source(github, "gh-perm"))

    assert summary.status == "succeeded", summary.error
    assert summary.changed == 1
    assert github.requested("/git/") == []  # no tree, no blob: content was not fetched
    query = "pager passphrase rotation"
    assert "Pager rotation" not in await titles_for(sessions, offline_embedder, query, "gh-perm", ALICE)
    assert "Pager rotation" in await titles_for(sessions, offline_embedder, query, "gh-perm", CAROL)
    # A later content sync keeps the newer access (it reads access live, under the same lock).
    await SyncEngine(sessions, offline_embedder).sync(source(github, "gh-perm"))
    assert "Pager rotation" not in await titles_for(sessions, offline_embedder, query, "gh-perm", ALICE)


async def test_edits_and_deletions_propagate_and_unchanged_files_are_not_downloaded(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    await engine.sync(source(github, "gh-edit", repos=("acme/handbook",)))
    files = github.repositories["acme/handbook"].files
    files["docs/holidays.md"] = "# Holidays\n\nEveryone gets thirty days of paid holiday each year.\n"
    del files["README.txt"]
    github.clear_requests()

    summary = await engine.sync(source(github, "gh-edit", repos=("acme/handbook",)))

    assert (summary.updated, summary.deleted, summary.unchanged) == (1, 1, 1)
    assert len(github.requested("/git/blobs/")) == 1
    passages = await HybridRetriever(sessions, offline_embedder).search(
        SearchQuery(text="paid holiday days", scope=ReaderScope(readers=(CAROL,)), sources=("gh-edit",))
    )
    assert "thirty days" in passages[0].text


async def test_collaborators_the_token_cannot_list_hide_the_repository_from_everyone(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    github.repositories["acme/runbooks"].collaborators_status = 403

    await SyncEngine(sessions, offline_embedder).sync(source(github, "gh-closed"))

    query = "pager passphrase rotation"
    assert "Pager rotation" not in await titles_for(sessions, offline_embedder, query, "gh-closed", ALICE)
    status = {item.source: item for item in (await knowledge_status(sessions)).sources}["gh-closed"]
    assert status.unreadable_permissions == 1
    assert "collaborators of acme/runbooks" in (status.unreadable_reason or "")

    github.repositories["acme/runbooks"].collaborators_status = 200
    await sync_permissions(sessions, source(github, "gh-closed"))
    assert "Pager rotation" in await titles_for(sessions, offline_embedder, query, "gh-closed", ALICE)
    status = {item.source: item for item in (await knowledge_status(sessions)).sources}["gh-closed"]
    assert status.unreadable_permissions == 0


async def test_a_429_is_retried_after_its_retry_after(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    github.rate_limited_once.add("/repos/acme/handbook/git/trees/main")
    began = time.monotonic()

    summary = await SyncEngine(sessions, offline_embedder).sync(source(github, "gh-429", repos=("acme/handbook",)))

    assert summary.status == "succeeded", summary.error
    assert summary.added == 3
    assert len(github.requested("/git/trees/main")) == 2
    assert time.monotonic() - began >= 1.0


async def test_a_refused_token_names_the_source_and_its_variable(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    refused = source(github, "gh-refused", token="ghp-revoked")

    summary = await SyncEngine(sessions, offline_embedder).sync(refused)

    assert summary.status == "failed"
    assert "gh-refused" in (summary.error or "") and "ACME_GITHUB_TOKEN" in (summary.error or "")
    assert "ghp-revoked" not in (summary.error or "")


async def test_issues_sync_incrementally_and_a_crashed_first_sync_resumes_from_its_checkpoint(
    github: FakeGitHub, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    repo = github.repositories["acme/handbook"]
    repo.files.clear()
    repo.issues = [
        {
            "number": number,
            "title": f"Issue number {number}",
            "body": f"Body of issue {number} about widget {number}.",
            "updated_at": f"2026-11-{number:02d}T10:00:00Z",
            "html_url": f"https://github.example/acme/handbook/issues/{number}",
            "comments": 1 if number == 1 else 0,
            "comment_list": [{"user": {"login": "bob"}, "body": "Confirmed on staging."}] if number == 1 else [],
        }
        for number in range(1, 9)
    ]
    engine = SyncEngine(sessions, offline_embedder)
    engine.config = engine.config.model_copy(update={"batch_documents": 1})
    # The fourth page of issues fails: the first sync stops there.
    github.failing_pages.add(("/repos/acme/handbook/issues", 4))

    def issue_pages() -> list[str]:
        return [path for path in github.requested("/repos/acme/handbook/issues") if "/comments" not in path]

    crashed = await engine.sync(
        source(github, "gh-issues", repos=("acme/handbook",), include_issues=True, max_retries=0)
    )
    assert crashed.status == "failed"
    assert crashed.added == 6  # pages 1-3, two issues each, were written before the failure
    github.failing_pages.clear()
    github.clear_requests()

    resumed = await engine.sync(source(github, "gh-issues", repos=("acme/handbook",), include_issues=True))

    assert resumed.status == "succeeded", resumed.error
    assert resumed.added == 2
    assert len(issue_pages()) == 1 and "page=4" in issue_pages()[0]  # only the page it stopped at
    assert "Confirmed on staging" in " ".join(
        p.text
        for p in await HybridRetriever(sessions, offline_embedder).search(
            SearchQuery(text="confirmed staging widget", scope=ReaderScope(readers=(CAROL,)), sources=("gh-issues",))
        )
    )

    # Incremental: the next run asks only for issues updated since the last one (minus the overlap).
    repo.issues[2]["title"], repo.issues[2]["updated_at"] = "Issue three, edited", "2030-01-01T00:00:00Z"
    github.clear_requests()
    incremental = await engine.sync(source(github, "gh-issues", repos=("acme/handbook",), include_issues=True))
    assert incremental.updated == 1
    assert all("since=" in path for path in issue_pages())
    assert incremental.deleted == 0
