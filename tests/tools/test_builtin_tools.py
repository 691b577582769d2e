"""The built-in tools against loopback HTTP servers: allow-lists, size limits, named endpoints, scoped search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from knowledge import AccessList, Passage, ReaderScope, SearchQuery
from tests.fakes.http_server import BackgroundServer
from tools import HttpEndpoint, ToolContext, ToolRegistry, ToolsConfig


async def page(request: Request) -> Response:
    return HTMLResponse("<html><script>evil()</script><h1>Runbook</h1><p>Restart the  proxy.</p></html>")


async def big(request: Request) -> Response:
    return PlainTextResponse("x" * 50_000)


async def escape(request: Request) -> Response:
    return RedirectResponse("http://elsewhere.invalid/steal", status_code=302)


async def echo(request: Request) -> Response:
    return PlainTextResponse(f"{request.method} auth={request.headers.get('x-api-key')} q={request.query_params}")


@pytest.fixture(scope="module")
def site() -> Iterator[BackgroundServer]:
    routes = [Route("/page", page), Route("/big", big), Route("/escape", escape), Route("/echo", echo)]
    server = BackgroundServer(Starlette(routes=routes)).start()
    yield server
    server.stop()


def context(
    settings: ToolsConfig, retriever: object = None, user: str = "U1", *, approver_present: bool = True
) -> ToolContext:
    return ToolContext(
        user_id=user,
        workspace_id="default",
        scope=ReaderScope.single(user),
        settings=settings,
        retriever=retriever,  # type: ignore[arg-type]
        approver_present=approver_present,
    )


async def test_fetch_url_reads_allowed_pages_as_text_within_limits(site: BackgroundServer) -> None:
    registry = ToolRegistry.from_entry_points()
    allowed = context(ToolsConfig(fetch_allowed_domains=["127.0.0.1"], fetch_max_bytes=1_000))

    result = await registry.invoke("fetch_url", {"url": site.url + "/page"}, allowed)
    assert "Runbook\nRestart the proxy." in result.content and "evil" not in result.content

    cut = await registry.invoke("fetch_url", {"url": site.url + "/big"}, allowed)
    assert cut.content.endswith("[cut at 1000 bytes]")

    escaped = await registry.invoke("fetch_url", {"url": site.url + "/escape"}, allowed)
    assert escaped.is_error and "elsewhere.invalid is not on the allow-list" in escaped.content

    refused = await registry.invoke("fetch_url", {"url": site.url + "/page"}, context(ToolsConfig()))
    assert refused.is_error and "no domains are on the allow-list" in refused.content


async def test_http_request_calls_named_endpoints_only_and_hides_their_secrets(site: BackgroundServer) -> None:
    registry = ToolRegistry.from_entry_points()
    endpoint = HttpEndpoint(
        method="GET", url=site.url + "/echo", description="look up a host", headers={"X-Api-Key": SecretStr("k-123456")}
    )
    calling = context(ToolsConfig(endpoints={"lookup": endpoint}))

    tool = registry.get("http_request")
    assert "lookup (GET): look up a host" in tool.describe(calling)
    assert "k-123456" not in tool.describe(calling) and site.url not in tool.describe(calling)

    result = await registry.invoke("http_request", {"endpoint": "lookup", "query": {"host": "db1"}}, calling)
    assert result.content == "HTTP 200 from endpoint lookup\n\nGET auth=k-123456 q=host=db1"
    unknown = await registry.invoke("http_request", {"endpoint": "https://evil.example"}, calling)
    assert unknown.is_error and "configured endpoints: lookup" in unknown.content


class ScopedRetriever:
    def __init__(self) -> None:
        self.queries: list[SearchQuery] = []
        self.secret = Passage(
            chunk_id=1,
            document_id=1,
            external_id="salaries.md",
            source="hr",
            title="Salaries",
            url="https://hr/x",
            text="secret",
            score=1,
        )

    async def search(self, query: SearchQuery) -> list[Passage]:
        self.queries.append(query)
        return [self.secret] if query.scope.may_read(AccessList.restricted(users=["U_HR"])) else []


async def test_search_knowledge_searches_as_the_asker_whatever_the_model_asks() -> None:
    registry = ToolRegistry.from_entry_points()
    retriever = ScopedRetriever()
    calling = ToolContext(
        user_id="U1",
        workspace_id="default",
        scope=ReaderScope.single("U1"),
        sources=("handbook",),
        retriever=retriever,
    )

    result = await registry.invoke(
        "search_knowledge", {"query": "salaries", "scope": "everyone", "sources": None}, calling
    )

    assert result.passages == [] and "No passages" in result.content
    assert retriever.queries[0].scope == ReaderScope.single("U1")
    assert retriever.queries[0].sources == ("handbook",)
    hr = await registry.invoke("search_knowledge", {"query": "salaries"}, context(ToolsConfig(), retriever, "U_HR"))
    assert [p.title for p in hr.passages] == ["Salaries"]


async def test_current_time_and_bad_time_zones() -> None:
    registry = ToolRegistry.from_entry_points()
    now = await registry.invoke("current_time", {"timezone": "Europe/Berlin"}, context(ToolsConfig()))
    assert "(Europe/Berlin)" in now.content and not now.is_error
    bad = await registry.invoke("current_time", {"timezone": "Mars/Olympus"}, context(ToolsConfig()))
    assert bad.is_error and "unknown time zone" in bad.content
