"""Permission sync re-permissions a whole batch of documents with one statement, chunks and postings included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import AccessList, Embedder, HybridRetriever, ReaderScope, SourceDocument, SyncEngine, sync_permissions
from knowledge.sources import KnownDocument
from knowledge.sources.permissioned import AccessUpdate, ExternalGroup, PermissionedSource

DOCUMENTS = 1200  # more than one permission-sync batch (500)


class WikiSource(PermissionedSource):
    """A wiki whose access lists are a dict the test edits between syncs."""

    def __init__(self, name: str, access: dict[str, AccessList]) -> None:
        self.name = name
        self.access = access

    async def fetch(self, known: Mapping[str, KnownDocument]) -> AsyncIterator[SourceDocument]:
        for external_id, access in self.access.items():
            yield SourceDocument(
                source=self.name,
                external_id=external_id,
                title=f"Page {external_id}",
                url=f"https://wiki.example/{external_id}",
                content=f"## Budget\n\nThe quarterly budget of {external_id} is in the finance folder.",
                access=access,
            )

    async def external_groups(self) -> AsyncIterator[ExternalGroup]:
        yield ExternalGroup(principal="group:wiki:finance", members=frozenset({"U_FIN"}))

    async def current_access(self, external_ids: Sequence[str]) -> AsyncIterator[AccessUpdate]:
        for external_id in external_ids:
            yield AccessUpdate(external_id=external_id, access=self.access[external_id])


async def access_rows(sessions: async_sessionmaker[AsyncSession], table_sql: str) -> dict[str, tuple[bool, ...]]:
    async with sessions() as session:
        return {row[0]: tuple(row[1:]) for row in await session.execute(text(table_sql))}


async def test_permission_sync_updates_a_batch_in_one_statement_and_search_follows(
    sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    access = {f"page-{index:04d}": AccessList() for index in range(DOCUMENTS)}
    source = WikiSource("perm-wiki", access)
    assert (await SyncEngine(sessions, offline_embedder).sync(source)).status == "succeeded"
    # A third of the pages become finance-only, one becomes unreadable; nothing else changes.
    restricted = {key for index, key in enumerate(access) if index % 3 == 0}
    for key in restricted:
        access[key] = AccessList.restricted(groups=["finance"])
    access["page-0001"] = AccessList.unreadable("the restrictions could not be read")

    engine = sessions.kw["bind"]
    updates: list[str] = []

    def count_updates(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "UPDATE kb_chunks" in statement or "UPDATE kb_postings" in statement:
            updates.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count_updates)
    try:
        summary = await sync_permissions(sessions, source)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count_updates)

    assert summary.status == "succeeded"
    assert summary.checked == DOCUMENTS
    assert summary.changed == len(restricted) + 1
    assert summary.unreadable == 1
    # One statement per batch of 500 checked documents (three batches), not one or three per document.
    assert len(updates) == 3, updates

    chunks = await access_rows(
        sessions,
        "SELECT d.external_id, bool_and(c.is_public), bool_and('group:finance' = ANY(c.principals)) "
        "FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id GROUP BY d.external_id",
    )
    postings = await access_rows(
        sessions,
        "SELECT d.external_id, bool_and(p.is_public), bool_or(p.is_public) FROM kb_postings p "
        "JOIN kb_chunks c ON c.id = p.chunk_id JOIN kb_documents d ON d.id = c.document_id GROUP BY d.external_id",
    )
    documents = await access_rows(
        sessions, "SELECT external_id, is_public, 'group:finance' = ANY(principals) FROM kb_documents"
    )
    for key in access:
        public = key not in restricted and key != "page-0001"
        assert documents[key] == (public, key in restricted), key
        assert chunks[key] == (public, key in restricted), key
        assert postings[key] == (public, public), key

    retriever = HybridRetriever(sessions, offline_embedder)
    outsider = await retriever.rank("quarterly budget", ReaderScope.single("U_OUT"), limit=50, sources=("perm-wiki",))
    assert outsider and all(p.external_id not in restricted and p.external_id != "page-0001" for p in outsider)
    finance = ReaderScope.single("U_FIN", groups=["finance"])
    seen = await retriever.rank("quarterly budget page-0000", finance, method="fulltext", limit=50)
    assert "page-0000" in {passage.external_id for passage in seen}

    # A second permission sync with nothing changed writes nothing.
    updates.clear()
    event.listen(engine.sync_engine, "before_cursor_execute", count_updates)
    try:
        again = await sync_permissions(sessions, source)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count_updates)
    assert again.changed == 0
    assert updates == []
