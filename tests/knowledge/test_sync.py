"""The sync engine against real PostgreSQL: what a user sees after each kind of change upstream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import (
    AccessList,
    Embedder,
    HybridRetriever,
    ReaderScope,
    SearchQuery,
    SourceDocument,
    SyncEngine,
    SyncProgress,
    knowledge_status,
    recent_sync_runs,
)
from knowledge.errors import EmbeddingError
from knowledge.sources import FetchFailure, FolderSource, FolderSourceConfig, Unchanged
from tests.fakes.knowledge_sources import CountingEmbedder, ListSource

READER = ReaderScope.single("U1")

TOPICS = {
    "vpn": ("VPN setup", "# VPN\n\nInstall the WireGuard client and import the company profile from the portal."),
    "laptop": ("Laptop refresh", "# Laptops\n\nEngineers receive a new laptop every three years from IT."),
    "oncall": ("On-call rotation", "# On-call\n\nThe pager rotates weekly; hand over every Monday at 10:00."),
    "expenses": ("Expenses", "# Expenses\n\nSubmit receipts within thirty days through the finance tool."),
}


def page(source: str, key: str, content: str | None = None, **extra: object) -> SourceDocument:
    title, body = TOPICS[key]
    return SourceDocument(
        source=source,
        external_id=key,
        title=title,
        url=f"https://handbook.example/{key}",
        content=content if content is not None else body,
        **extra,  # type: ignore[arg-type]
    )


async def titles_for(retriever: HybridRetriever, text: str, source: str) -> list[str]:
    passages = await retriever.search(SearchQuery(text=text, scope=READER, sources=(source,), limit=10))
    return [passage.title for passage in passages]


async def test_first_sync_indexes_every_document_and_records_the_run(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    source = ListSource("first", [page("first", key) for key in TOPICS])
    progress: list[SyncProgress] = []

    summary = await SyncEngine(sessions, offline_embedder).sync(source, progress=progress.append)

    assert (summary.status, summary.added, summary.failed) == ("succeeded", 4, 0)
    assert [event.seen for event in progress] == [1, 2, 3, 4]
    retriever = HybridRetriever(sessions, offline_embedder)
    passages = await retriever.search(SearchQuery(text="WireGuard profile", scope=READER, sources=("first",)))
    assert passages[0].title == "VPN setup"
    assert passages[0].url == "https://handbook.example/vpn#vpn"
    assert passages[0].heading_path == ["VPN"]
    status = await knowledge_status(sessions)
    first = next(item for item in status.sources if item.source == "first")
    assert (first.documents, first.chunks) == (4, 4)
    assert first.last_run is not None and first.last_run.added == 4 and first.last_run.finished_at is not None


async def test_unchanged_resync_makes_no_embedding_calls(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    embedder = CountingEmbedder(offline_embedder)
    engine = SyncEngine(sessions, embedder)
    source = ListSource("steady", [page("steady", key) for key in TOPICS])
    await engine.sync(source)
    embedder.reset()

    source.documents = [page("steady", "vpn"), page("steady", "laptop"), Unchanged(external_id="oncall")] + [
        page("steady", "expenses")
    ]
    summary = await engine.sync(source)

    assert (summary.unchanged, summary.added, summary.updated, summary.deleted) == (4, 0, 0, 0)
    assert embedder.calls == 0
    assert source.known_seen["vpn"].content_hash  # the source is told what the index holds


async def test_edited_page_is_replaced_and_only_new_passages_are_embedded(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    embedder = CountingEmbedder(offline_embedder)
    engine = SyncEngine(sessions, embedder)
    intro = "# VPN\n\nInstall the WireGuard client and import the company profile from the portal."
    source = ListSource("edits", [page("edits", "vpn", content=intro + "\n\n## Old\n\nUse the legacy Cisco client.")])
    await engine.sync(source)
    embedder.reset()

    source.documents = [page("edits", "vpn", content=intro + "\n\n## New\n\nThe Tailscale mesh replaced it.")]
    summary = await engine.sync(source)

    assert summary.updated == 1
    assert embedder.texts == 1  # the unchanged first section came from the cache
    retriever = HybridRetriever(sessions, embedder)
    passages = await retriever.search(SearchQuery(text="Tailscale mesh", scope=READER, sources=("edits",)))
    assert passages[0].url.endswith("#new")
    texts = [p.text for p in await retriever.search(SearchQuery(text="legacy Cisco", scope=READER, limit=20))]
    assert not any("Cisco" in text for text in texts)


async def test_deleted_page_disappears_from_search_only_after_a_complete_listing(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    retriever = HybridRetriever(sessions, offline_embedder)
    source = ListSource("deletions", [page("deletions", key) for key in TOPICS])
    await engine.sync(source)

    source.documents = [page("deletions", key) for key in TOPICS if key != "expenses"]
    source.listing_complete = False
    partial = await engine.sync(source)
    assert partial.deleted == 0 and not partial.listing_complete
    assert "Expenses" in await titles_for(retriever, "receipts finance", "deletions")

    source.listing_complete = True
    complete = await engine.sync(source)

    assert complete.deleted == 1
    assert "Expenses" not in await titles_for(retriever, "receipts finance", "deletions")


async def test_a_failing_document_is_recorded_and_the_others_sync(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    source = ListSource(
        "failing",
        [
            page("failing", "vpn"),
            FetchFailure(external_id="broken.pdf", reason="PDF is encrypted", title="Broken", url="file:///broken.pdf"),
            page("failing", "laptop"),
        ],
    )

    summary = await engine.sync(source)

    assert (summary.status, summary.added, summary.failed) == ("succeeded", 2, 1)
    assert summary.failures[0].reason == "PDF is encrypted"
    runs = await recent_sync_runs(sessions, source="failing")
    assert runs[0].failures[0].external_id == "broken.pdf"
    assert runs[0].failures[0].url == "file:///broken.pdf"


async def test_a_crash_mid_sync_keeps_the_previous_index_and_the_next_run_resumes(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    embedder = CountingEmbedder(offline_embedder)
    engine = SyncEngine(sessions, embedder)
    retriever = HybridRetriever(sessions, embedder)
    source = ListSource("crashy", [page("crashy", "vpn"), page("crashy", "laptop")])
    await engine.sync(source)

    edited_vpn = page("crashy", "vpn", content="# VPN\n\nThe VPN now uses Tailscale exclusively.")
    source.documents = [edited_vpn, page("crashy", "oncall"), page("crashy", "expenses"), page("crashy", "laptop")]
    source.crash_after = 3
    crashed = await engine.sync(source)

    assert crashed.status == "failed" and "went away" in (crashed.error or "")
    assert crashed.deleted == 0
    assert "Laptop refresh" in await titles_for(retriever, "new laptop every three years", "crashy")
    embedder.reset()

    source.crash_after = None
    resumed = await engine.sync(source)

    assert resumed.status == "succeeded"
    assert resumed.unchanged == 4  # everything written before the crash was kept, nothing redone
    assert embedder.calls == 0
    assert (await recent_sync_runs(sessions, source="crashy"))[1].status == "failed"


async def test_a_model_change_re_embeds_even_documents_the_source_reports_unchanged(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    source = ListSource("models", [page("models", "vpn"), page("models", "laptop")])
    await SyncEngine(sessions, CountingEmbedder(offline_embedder, name="test/model-a")).sync(source)

    model_b = CountingEmbedder(offline_embedder, name="test/model-b")
    source.documents = [page("models", "vpn"), Unchanged(external_id="laptop")]
    summary = await SyncEngine(sessions, model_b).sync(source)

    assert summary.reembedded == 2 and model_b.texts == 2
    passages = await HybridRetriever(sessions, model_b).vector(
        SearchQuery(text="new laptop every three years", scope=READER, sources=("models",))
    )
    assert passages[0].title == "Laptop refresh"
    model_b.reset()
    assert (await SyncEngine(sessions, model_b).sync(source)).reembedded == 0
    assert model_b.calls == 0


async def test_full_sync_reprocesses_every_document(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    source = ListSource("full", [page("full", key) for key in TOPICS])
    await engine.sync(source)

    summary = await engine.sync(source, full=True)

    assert (summary.updated, summary.unchanged) == (4, 0)


async def test_concurrent_syncs_of_one_source_are_serialised(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    first = ListSource("parallel", [page("parallel", key) for key in TOPICS])
    second = ListSource("parallel", [page("parallel", key) for key in TOPICS])

    results = await asyncio.gather(engine.sync(first), engine.sync(second))

    assert sorted((result.added, result.unchanged) for result in results) == [(0, 4), (4, 0)]


async def test_access_changes_reach_the_index(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    engine = SyncEngine(sessions, offline_embedder)
    retriever = HybridRetriever(sessions, offline_embedder)
    source = ListSource("acl", [page("acl", "oncall")])
    await engine.sync(source)
    assert await titles_for(retriever, "pager rotates weekly", "acl") == ["On-call rotation"]

    source.documents = [page("acl", "oncall", access=AccessList.restricted(groups=["group:sre"]))]
    summary = await engine.sync(source)

    assert summary.updated == 1
    assert await titles_for(retriever, "pager rotates weekly", "acl") == []


class OversizedEmbedder(Embedder):
    """A model wider than any HNSW index can hold."""

    name = "test/too-wide"
    dimensions = 4001

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [[1.0] + [0.0] * 4000 for _ in texts]


async def test_a_model_too_wide_to_index_is_refused_with_what_to_do(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(EmbeddingError, match="at most 4000: choose a smaller model"):
        await SyncEngine(sessions, OversizedEmbedder()).sync(ListSource("too-wide", [page("too-wide", "vpn")]))


async def test_a_file_that_becomes_a_symlink_out_of_its_folder_leaves_the_index_at_the_next_sync(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "handbook"
    folder.mkdir()
    (folder / "vpn.md").write_text(TOPICS["vpn"][1], encoding="utf-8")
    (folder / "notes.md").write_text("# Notes\n\nThe printer on floor three jams on Mondays.\n", encoding="utf-8")
    (tmp_path / "secret.env").write_text("SLACK_BOT_TOKEN=xoxb-printer-floor-three\n", encoding="utf-8")
    engine = SyncEngine(sessions, offline_embedder)
    retriever = HybridRetriever(sessions, offline_embedder)
    source_config = FolderSourceConfig(name="linked", path=folder)
    await engine.sync(FolderSource(source_config))
    assert "Notes" in await titles_for(retriever, "printer floor three", "linked")

    (folder / "notes.md").unlink()
    (folder / "notes.md").symlink_to("../secret.env")
    summary = await engine.sync(FolderSource(source_config))

    assert (summary.status, summary.deleted, summary.failed) == ("succeeded", 1, 1)
    assert "outside the source folder" in summary.failures[0].reason
    assert "Notes" not in await titles_for(retriever, "printer floor three", "linked")
    runs = await recent_sync_runs(sessions, source="linked")
    assert runs[0].failures[0].external_id == "notes.md"
