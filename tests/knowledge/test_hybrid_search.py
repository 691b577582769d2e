"""Hybrid retrieval on a small labelled handbook: keyword questions, paraphrased questions, and both fused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import (
    Embedder,
    HybridRetriever,
    ReaderScope,
    RetrievalConfig,
    SearchQuery,
    SourceDocument,
    SyncEngine,
)
from tests.fakes.knowledge_sources import ListSource

LABELLED = json.loads((Path(__file__).parent / "fixtures" / "labelled_pages.json").read_text())
SCOPE = ReaderScope.single("U_EMPLOYEE")


@pytest.fixture(scope="module")
async def retriever(sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder) -> HybridRetriever:
    pages = [
        SourceDocument(
            source="handbook",
            external_id=page["id"],
            title=page["title"],
            url=f"https://handbook.example/{page['id']}",
            content=page["content"],
        )
        for page in LABELLED["pages"]
    ]
    await SyncEngine(sessions, offline_embedder).sync(ListSource("handbook", pages))
    return HybridRetriever(sessions, offline_embedder)


async def mean_reciprocal_rank(retriever: HybridRetriever, method: str) -> float:
    total = 0.0
    for item in LABELLED["questions"]:
        passages = await getattr(retriever, method)(SearchQuery(text=item["question"], scope=SCOPE, limit=10))
        pages = [passage.url.rsplit("/", 1)[-1].split("#", 1)[0] for passage in passages]
        if item["answer"] in pages:
            total += 1 / (pages.index(item["answer"]) + 1)
    return total / len(LABELLED["questions"])


async def test_hybrid_beats_each_single_method(retriever: HybridRetriever) -> None:
    keyword = await mean_reciprocal_rank(retriever, "fulltext")
    semantic = await mean_reciprocal_rank(retriever, "vector")
    hybrid = await mean_reciprocal_rank(retriever, "search")

    assert hybrid > keyword
    assert hybrid > semantic


async def test_exact_terms_are_found_by_full_text(retriever: HybridRetriever) -> None:
    passages = await retriever.fulltext(SearchQuery(text="pgBackRest", scope=SCOPE))

    assert passages[0].title == "Database backups"
    assert passages[0].url == "https://handbook.example/backup#backups"
    assert passages[0].heading_path == ["Backups"]


async def test_a_question_of_stop_words_only_still_gets_semantic_results(
    retriever: HybridRetriever,
) -> None:
    assert await retriever.fulltext(SearchQuery(text="the of and", scope=SCOPE)) == []
    assert len(await retriever.search(SearchQuery(text="the of and", scope=SCOPE, limit=3))) == 3


class TopicEmbedder(Embedder):
    """Vectors along hand-picked topic axes, so a test decides exactly which passages are semantically close."""

    TOPICS = (("password", "credential"), ("router", "modem"))

    @property
    def name(self) -> str:
        return "test/topics"

    @property
    def dimensions(self) -> int:
        return len(self.TOPICS) + 1

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            words = text.lower().replace(".", " ").split()
            raw = [float(sum(word in topic for word in words)) for topic in self.TOPICS] + [0.1]
            norm = sum(value * value for value in raw) ** 0.5
            vectors.append([value / norm for value in raw])
        return vectors


async def test_a_keyword_match_outside_the_vector_list_keeps_its_semantic_score(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two equal keyword matches, neither among the nearest vectors, are still told apart by meaning."""
    embedder = TopicEmbedder()
    pages = {  # "router" is indexed first, so it would win a tie
        "router": "Reset the modem of the router.",
        "account": "Reset the credential of the router.",
    }
    # Closer to the question than either match, without its words: they fill the whole vector list.
    pages |= {f"nearest-{index}": f"Credential desk {index}." for index in range(5)}
    await SyncEngine(sessions, embedder).sync(
        ListSource(
            "fusion",
            [
                SourceDocument(source="fusion", external_id=key, title="", url=f"https://x.example/{key}", content=text)
                for key, text in pages.items()
            ],
        )
    )
    retriever = HybridRetriever(sessions, embedder, RetrievalConfig(fulltext_weight=10, vector_depth=5))

    passages = await retriever.rank("reset password", SCOPE, limit=5, sources=("fusion",))

    assert [passage.external_id for passage in passages[:2]] == ["account", "router"]
