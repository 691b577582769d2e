"""Permission-aware retrieval: a restricted passage never reaches someone who may not read it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import (
    AccessList,
    Embedder,
    HybridRetriever,
    Reader,
    ReaderScope,
    SearchQuery,
    SourceDocument,
    SyncEngine,
)
from tests.fakes.knowledge_sources import ListSource

METHODS = ("search", "fulltext", "vector")
QUERY = "incident response playbook for leaked credentials"


def document(external_id: str, title: str, access: AccessList, source: str = "policies") -> SourceDocument:
    return SourceDocument(
        source=source,
        external_id=external_id,
        title=title,
        url=f"https://policies.example/{external_id}",
        content=f"# {title}\n\nThe incident response playbook for leaked credentials: rotate keys, page security.",
        access=access,
    )


@pytest.fixture(scope="module")
async def retriever(sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder) -> HybridRetriever:
    engine = SyncEngine(sessions, offline_embedder)
    await engine.sync(
        ListSource(
            "policies",
            [
                document("public", "Public security overview", AccessList()),
                document("security-team", "Security team playbook", AccessList.restricted(groups=["security"])),
                document("ciso", "CISO private notes", AccessList.restricted(users=["U_CISO"])),
            ],
        )
    )
    await engine.sync(ListSource("wiki", [document("wiki-copy", "Wiki copy of the playbook", AccessList(), "wiki")]))
    await engine.sync(
        ListSource(
            "teams",
            [
                document("red-blue", "Red and blue runbook", AccessList.restricted(groups=["red", "blue"]), "teams"),
                document("red", "Red runbook", AccessList.restricted(groups=["red"]), "teams"),
            ],
        )
    )
    return HybridRetriever(sessions, offline_embedder)


async def visible_titles(
    retriever: HybridRetriever, scope: ReaderScope, method: str, source: str = "policies"
) -> set[str]:
    """Titles of the passages returned and of the copies they name (these documents share one text)."""
    query = SearchQuery(text=QUERY, scope=scope, limit=20, sources=(source,))
    passages = await getattr(retriever, method)(query)
    return {passage.title for passage in passages} | {copy.title for passage in passages for copy in passage.also_in}


@pytest.mark.parametrize("method", METHODS)
async def test_a_user_never_sees_a_restricted_document(retriever: HybridRetriever, method: str) -> None:
    titles = await visible_titles(retriever, ReaderScope.single("U_NEW"), method)

    assert titles == {"Public security overview"}


@pytest.mark.parametrize("method", METHODS)
async def test_group_members_and_listed_users_see_what_they_may_read(retriever: HybridRetriever, method: str) -> None:
    analyst = await visible_titles(retriever, ReaderScope.single("U_ANALYST", groups=["security"]), method)
    ciso = await visible_titles(retriever, ReaderScope.single("U_CISO"), method)

    assert analyst == {"Public security overview", "Security team playbook"}
    assert ciso == {"Public security overview", "CISO private notes"}


@pytest.mark.parametrize("method", METHODS)
async def test_a_channel_gets_only_what_every_member_may_read(retriever: HybridRetriever, method: str) -> None:
    analyst = Reader(user_id="U_ANALYST", groups=frozenset({"security"}))
    second_analyst = Reader(user_id="U_ANALYST2", groups=frozenset({"security"}))
    outsider = Reader(user_id="U_SALES")

    mixed = await visible_titles(retriever, ReaderScope(readers=(analyst, outsider)), method)
    security_only = await visible_titles(retriever, ReaderScope(readers=(analyst, second_analyst)), method)

    assert mixed == {"Public security overview"}
    assert security_only == {"Public security overview", "Security team playbook"}


@pytest.mark.parametrize("method", METHODS)
async def test_a_large_channel_reads_through_a_group_every_member_shares(
    retriever: HybridRetriever, method: str
) -> None:
    members = tuple(
        Reader(user_id=f"U{index}", groups=frozenset({"security", f"team-{index}"})) for index in range(2000)
    )
    outsider = Reader(user_id="U_SALES", groups=frozenset({"sales"}))

    everyone_in_security = await visible_titles(retriever, ReaderScope(readers=members), method)
    with_outsider = await visible_titles(retriever, ReaderScope(readers=(*members, outsider)), method)

    assert everyone_in_security == {"Public security overview", "Security team playbook"}
    assert with_outsider == {"Public security overview"}


@pytest.mark.parametrize("method", METHODS)
async def test_a_channel_split_between_two_granted_groups_reads_what_grants_both(
    retriever: HybridRetriever, method: str
) -> None:
    red = tuple(Reader(user_id=f"R{index}", groups=frozenset({"red", f"r-{index}"})) for index in range(300))
    blue = tuple(Reader(user_id=f"B{index}", groups=frozenset({"blue"})) for index in range(300))
    grey = Reader(user_id="G1", groups=frozenset({"grey", "r-1"}))

    split = await visible_titles(retriever, ReaderScope(readers=red + blue), method, source="teams")
    all_red = await visible_titles(retriever, ReaderScope(readers=red), method, source="teams")
    with_grey = await visible_titles(retriever, ReaderScope(readers=(*red, *blue, grey)), method, source="teams")

    assert split == {"Red and blue runbook"}
    assert all_red == {"Red and blue runbook", "Red runbook"}
    assert with_grey == set()


async def test_source_filter_limits_the_sources_searched(retriever: HybridRetriever) -> None:
    scope = ReaderScope.single("U_NEW")
    wiki = await retriever.search(SearchQuery(text=QUERY, scope=scope, sources=("wiki",)))
    everywhere = await retriever.search(SearchQuery(text=QUERY, scope=scope, limit=20))

    assert {passage.source for passage in wiki} == {"wiki"}
    # The two public documents share their text: one is returned and names the other.
    assert {passage.source for passage in everywhere} | {copy.source for p in everywhere for copy in p.also_in} == {
        "wiki",
        "policies",
    }
