"""The SQL access filter agrees with the reference rule, ``ReaderScope.may_read``, on any scope and access lists."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

SOURCE = "generated"
QUERY = "rotate the deploy keys after a leak"
# Small pools, so generated readers and documents share principals often and both answers occur.
USERS = ("U1", "U2", "U3")
GROUPS = ("security", "finance")
EMAILS = ("ana@example.com", "bo@example.com")

readers = st.builds(
    Reader,
    user_id=st.sampled_from(USERS),
    groups=st.frozensets(st.sampled_from(GROUPS)),
    email=st.none() | st.sampled_from(EMAILS),
)
scopes = st.builds(ReaderScope, readers=st.lists(readers, min_size=1, max_size=3).map(tuple))
access_lists = st.just(AccessList()) | st.builds(
    AccessList.restricted,
    users=st.frozensets(st.sampled_from(USERS)),
    groups=st.frozensets(st.sampled_from(GROUPS)),
    principals=st.frozensets(st.sampled_from([f"email:{email}" for email in EMAILS])),
)


def document(index: int, access: AccessList) -> SourceDocument:
    # One text for all: every document matches the query, so only the access filter decides what comes back.
    return SourceDocument(
        source=SOURCE,
        external_id=f"doc-{index}",
        title=f"Document {index}",
        url=f"https://wiki.example/doc-{index}",
        content="# Key rotation\n\nRotate the deploy keys after a leak and tell the security team.",
        access=access,
    )


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(scope=scopes, access=st.lists(access_lists, min_size=1, max_size=4))
async def test_search_returns_exactly_what_the_reference_rule_allows(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder, scope: ReaderScope, access: list[AccessList]
) -> None:
    documents = [document(index, item) for index, item in enumerate(access)]
    await SyncEngine(sessions, offline_embedder).sync(ListSource(SOURCE, list(documents)))
    retriever = HybridRetriever(sessions, offline_embedder)
    allowed = {item.title for item in documents if scope.may_read(item.access)}

    for method in (retriever.search, retriever.fulltext, retriever.vector):
        passages = await method(SearchQuery(text=QUERY, scope=scope, limit=20, sources=(SOURCE,)))
        seen = {passage.title for passage in passages} | {copy.title for p in passages for copy in p.also_in}
        assert seen == allowed, method.__name__
