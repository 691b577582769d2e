"""The built-in tools against loopback HTTP servers: allow-lists, size limits, named endpoints, scoped search."""

from __future__ import annotations

import asyncio
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


async def bounce(request: Request) -> Response:
    return RedirectResponse(str(request.query_params["to"]), status_code=302)


class HugeBody:
    """A raw HTTP server that sends a 50 MB body as fast as the client takes it, counting the bytes that left it.

    Written on asyncio streams rather than uvicorn, whose ``send`` drops data quietly after a disconnect: here a
    write to a closed connection fails, so ``sent`` is what really went out before the client stopped reading.
    """

    TOTAL = 50 * 1024 * 1024
    CHUNK = b"x" * 65_536

    def __init__(self) -> None:
        self.sent = 0
        self.finished = asyncio.Event()

    async def serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._answer, "127.0.0.1", 0)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {self.TOTAL}\r\n\r\n".encode()
            )
            while self.sent < self.TOTAL:
                writer.write(self.CHUNK)
                await writer.drain()
                self.sent += len(self.CHUNK)
        except ConnectionError:
            pass  # the client closed the connection: exactly what the test waits for
        finally:
            writer.close()
            self.finished.set()


@pytest.fixture(scope="module")
def site() -> Iterator[BackgroundServer]:
    routes = [
        Route("/page", page),
        Route("/big", big),
        Route("/escape", escape),
        Route("/echo", echo),
        Route("/bounce", bounce),
    ]
    server = BackgroundServer(Starlette(routes=routes)).start()
    yield server
    server.stop()


LOOPBACK = ["127.0.0.0/8", "::1/128"]


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
    allowed = context(
        ToolsConfig(fetch_allowed_domains=["127.0.0.1"], fetch_allowed_networks=LOOPBACK, fetch_max_bytes=1_000)
    )

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


async def test_fetch_url_refuses_loopback_private_and_metadata_addresses_unless_allow_listed(
    site: BackgroundServer,
) -> None:
    registry = ToolRegistry.from_entry_points()
    domains = ["localhost", "127.0.0.1", "10.0.0.7", "169.254.169.254"]
    not_listed = context(ToolsConfig(fetch_allowed_domains=domains))

    for url, kind in [
        (f"http://localhost:{site.port}/page", "loopback"),  # a name, judged by what it resolves to
        (f"{site.url}/page", "loopback"),
        ("http://10.0.0.7/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ]:
        refused = await registry.invoke("fetch_url", {"url": url}, not_listed)
        assert refused.is_error and kind in refused.content, refused.content
        assert "tools.fetch_allowed_networks" in refused.content

    listed = context(ToolsConfig(fetch_allowed_domains=domains, fetch_allowed_networks=LOOPBACK))
    fetched = await registry.invoke("fetch_url", {"url": f"http://localhost:{site.port}/page"}, listed)
    assert not fetched.is_error and "Runbook" in fetched.content


async def test_fetch_url_checks_the_address_of_every_redirect_hop(site: BackgroundServer) -> None:
    registry = ToolRegistry.from_entry_points()
    # Both hosts are on the domain allow-list; only 127.0.0.1 is an allowed network, the redirect goes to 127.0.0.2.
    only_first = context(
        ToolsConfig(fetch_allowed_domains=["127.0.0.1", "127.0.0.2"], fetch_allowed_networks=["127.0.0.1/32"])
    )

    target = f"http://127.0.0.2:{site.port}/page"
    refused = await registry.invoke("fetch_url", {"url": f"{site.url}/bounce?to={target}"}, only_first)

    assert refused.is_error and "127.0.0.2" in refused.content and "loopback" in refused.content


def http_endpoint_context(site: BackgroundServer, path: str, *, fetch_max_bytes: int = 200_000) -> ToolContext:
    endpoint = HttpEndpoint(method="GET", url=site.url + path, headers={"X-Api-Key": SecretStr("k-123456")})
    return context(ToolsConfig(endpoints={"lookup": endpoint}, fetch_max_bytes=fetch_max_bytes))


async def test_http_request_follows_redirects_on_its_own_host_only(site: BackgroundServer) -> None:
    registry = ToolRegistry.from_entry_points()

    same_host = await registry.invoke(
        "http_request", {"endpoint": "lookup"}, http_endpoint_context(site, "/bounce?to=/echo")
    )
    assert same_host.content == "HTTP 200 from endpoint lookup\n\nGET auth=k-123456 q="

    elsewhere = f"/bounce?to=http://localhost:{site.port}/echo"
    refused = await registry.invoke("http_request", {"endpoint": "lookup"}, http_endpoint_context(site, elsewhere))
    assert refused.is_error and "redirected to another host (localhost)" in refused.content
    assert "k-123456" not in refused.content


@pytest.mark.parametrize("tool_name", ["http_request", "fetch_url"])
async def test_a_huge_response_is_cut_at_the_limit_without_being_downloaded(tool_name: str) -> None:
    huge = HugeBody()
    server = await huge.serve()
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/huge"
    limits = {"fetch_max_bytes": 1_000, "fetch_allowed_domains": ["127.0.0.1"], "fetch_allowed_networks": LOOPBACK}
    endpoints = {"lookup": HttpEndpoint(url=url)}
    calling = context(ToolsConfig(endpoints=endpoints, **limits))
    arguments = {"endpoint": "lookup"} if tool_name == "http_request" else {"url": url}
    registry = ToolRegistry.from_entry_points()

    async with server:
        result = await registry.invoke(tool_name, arguments, calling)
        # The server notices the closed connection at its next writes; wait for that, then count.
        await asyncio.wait_for(huge.finished.wait(), timeout=10)

    assert not result.is_error and result.content.endswith("[cut at 1000 bytes]")
    assert "x" * 1_000 in result.content and "x" * 1_001 not in result.content
    # What left the server is the limit plus what the kernel's socket buffers took in (about 4 MB on loopback).
    assert huge.sent < HugeBody.TOTAL // 4, f"{huge.sent} bytes were sent"
