"""Near-duplicate passages collapse at query time: one passage for text several pages share, the others named.

A folder handbook where the same mental-health FAQ is pasted into three pages (one of them restricted), synced
through the real folder source and sync engine, searched through the real hybrid retriever.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import Embedder, HybridRetriever, ReaderScope, RetrievalConfig, SearchQuery, SyncEngine
from knowledge.near_duplicates import passage_signature, passage_signatures, signature_similarity
from knowledge.sources import FolderSource, FolderSourceConfig
from knowledge.sources.source_config import AccessRule

BASE_URL = "https://handbook.example.com/"
FAQ = """## Mental health FAQ

**Is counselling confidential?** Yes. Sessions with Modern Health coaches and therapists are confidential, and
nothing you discuss is shared with Sourcegraph or your manager.

**How many sessions are covered?** Every teammate gets twelve free therapy sessions per year, and unlimited
coaching sessions; see the [benefits overview](../index.md#mental-health) for dependants.
"""
EMPLOYEE = ReaderScope.single("U_EMPLOYEE")
PEOPLE_TEAM = ReaderScope.single("U_PEOPLE", groups=["people"])


def write(root: Path, relative: str, content: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


@pytest.fixture(scope="module")
async def retriever(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> HybridRetriever:
    root = tmp_path_factory.mktemp("copied-handbook")
    write(root, "benefits/mental-health/index.md", f"# Mental health support\n\nWe care about you.\n\n{FAQ}")
    # A copy with a small edit, in another folder: its relative link resolves to another absolute URL.
    write(
        root,
        "people/total-rewards/mental-health.md",
        "# Mental health benefits\n\nWhat Total Rewards offers.\n\n" + FAQ.replace("Every teammate", "Each teammate"),
    )
    # The restricted copy: only the people team may read it, and its title matches the questions best.
    write(root, "people/private/confidential-mental-health-faq.md", f"# Confidential mental health FAQ\n\n{FAQ}")
    write(
        root,
        "benefits/home-office.md",
        "# Home office stipend\n\nEvery teammate gets a $500 stipend for their home office; expense it in Ramp "
        "as described in [spending company money](spending-company-money.md#recurring-expenses).\n",
    )
    config = FolderSourceConfig(
        name="copies",
        path=root,
        base_url=BASE_URL,
        access=(AccessRule(pattern="people/private/**", groups=("people",)),),
    )
    summary = await SyncEngine(sessions, offline_embedder).sync(FolderSource(config))
    assert summary.added == 4, summary
    return HybridRetriever(sessions, offline_embedder)


async def search(retriever: HybridRetriever, question: str, scope: ReaderScope = EMPLOYEE) -> list:  # type: ignore[type-arg]
    return await retriever.search(SearchQuery(text=question, scope=scope, limit=5, sources=("copies",)))


def faq_passages(passages: list) -> list:  # type: ignore[type-arg]
    return [passage for passage in passages if "twelve free therapy sessions" in passage.text]


async def test_a_passage_copied_into_two_folders_is_returned_once_naming_the_other(
    retriever: HybridRetriever,
) -> None:
    passages = await search(retriever, "How many therapy sessions are covered, and is counselling confidential?")

    faq = faq_passages(passages)
    assert len(faq) == 1
    urls = {faq[0].url, *(copy.url for copy in faq[0].also_in)}
    assert urls == {
        BASE_URL + "benefits/mental-health/index.md#mental-health-faq",
        BASE_URL + "people/total-rewards/mental-health.md#mental-health-faq",
    }
    # The slot a copy would have taken goes to other information.
    assert any("stipend" in passage.text for passage in passages)


async def test_a_copy_the_reader_may_not_read_is_neither_kept_nor_named(retriever: HybridRetriever) -> None:
    question = "confidential mental health FAQ: is counselling confidential?"

    for_employee = faq_passages(await search(retriever, question))
    for_people_team = faq_passages(await search(retriever, question, PEOPLE_TEAM))

    assert len(for_employee) == 1 and len(for_people_team) == 1
    employee_urls = [for_employee[0].url, *(copy.url for copy in for_employee[0].also_in)]
    assert not any("private" in url for url in employee_urls)
    people_urls = [for_people_team[0].url, *(copy.url for copy in for_people_team[0].also_in)]
    assert sum("private" in url for url in people_urls) == 1 and len(people_urls) == 3


async def test_without_collapse_every_copy_is_returned(
    retriever: HybridRetriever, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    plain = HybridRetriever(sessions, offline_embedder, RetrievalConfig(collapse_near_duplicates=False))

    passages = await search(plain, "How many therapy sessions are covered, and is counselling confidential?")

    assert len(faq_passages(passages)) == 2
    assert all(not passage.also_in for passage in passages)


async def test_indexed_passages_carry_absolute_links(retriever: HybridRetriever) -> None:
    passages = await search(retriever, "home office stipend expense")

    stipend = next(passage for passage in passages if "stipend" in passage.text)
    assert f"]({BASE_URL}benefits/spending-company-money.md#recurring-expenses)" in stipend.text
    faq = faq_passages(passages) or faq_passages(await search(retriever, "therapy sessions covered"))
    assert f"]({BASE_URL}benefits/index.md#mental-health)" in faq[0].text


def test_signatures_tell_copies_from_passages_that_only_share_a_sentence() -> None:
    original = passage_signature(FAQ)
    edited = passage_signature(FAQ.replace("Every teammate", "Each teammate").replace("../index.md", "../../x.md"))
    different = passage_signature(
        "**Is counselling confidential?** Yes. Our travel policy covers flights, hotels and meals for every trip "
        "you take to meet customers, and your manager approves the budget beforehand in Ramp."
    )

    assert original is not None and edited is not None and different is not None
    assert signature_similarity(original, edited) >= RetrievalConfig().near_duplicate_similarity
    assert signature_similarity(original, different) < 0.3


def test_signatures_stay_those_already_stored() -> None:
    # Signatures written by earlier versions are compared with new ones: the hashing must never change. These
    # values were computed by the first, one-passage-at-a-time implementation.
    assert passage_signature("Rotate")[:3] == [-409052925, -158771140, 1637925538]  # type: ignore[index]
    assert passage_signature("Rotate certificates")[:3] == [-429018004, 1974474649, -1294128617]  # type: ignore[index]
    long = passage_signature(
        "Every teammate rotates the VPN certificate each quarter; see [the guide](../vpn.md) or "
        "https://vpn.example.invalid/help."
    )
    assert long is not None and long[:3] == [1038068368, 203669425, 1149366733] and sum(long) == 28078070967


def test_a_batch_is_signed_as_each_passage_alone() -> None:
    passages = [
        FAQ,
        "",
        "one",
        "two words",
        "!!!",
        "see [x](http://a.b/c) now",
        *(f"passage {n} " * n for n in range(70)),
    ]
    assert passage_signatures(passages) == [passage_signature(passage) for passage in passages]
