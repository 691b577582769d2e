"""A Notion API (version 2025-09-03) on loopback, speaking the documented shapes: ``POST /v1/search`` (pages and data
sources shared with the integration, sorted by ``last_edited_time``, ``start_cursor`` / ``next_cursor`` /
``has_more``), ``GET /v1/pages/{id}``, ``GET /v1/data_sources/{id}``, ``GET /v1/databases/{id}`` and
``GET /v1/blocks/{id}/children`` (paginated); bearer auth with error bodies ``{"object": "error", "code": ...}``;
scripted 429s with ``Retry-After``.

Every request is recorded; a block-children request is a content request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


def rich(text: str, **annotations: bool) -> list[dict[str, Any]]:
    return [{"type": "text", "plain_text": text, "text": {"content": text}, "annotations": annotations, "href": None}]


def block(kind: str, text: str = "", children: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A block of ``kind`` with rich text (and nested children, served from its own children endpoint)."""
    return {"type": kind, kind: {"rich_text": rich(text), **extra}, "children": children or []}


@dataclass
class FakeNotionPage:
    title: str
    blocks: list[dict[str, Any]]
    # "workspace", a page id, or a data source id (a database row).
    parent: str = "workspace"
    last_edited: str = "2026-11-01T10:00:00.000Z"
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeDataSource:
    title: str
    database: str
    parent: str = "workspace"  # of the database: "workspace" or a page id
    last_edited: str = "2026-11-01T10:00:00.000Z"


@dataclass
class FakeNotion:
    token: str = "secret_notion_test"
    pages: dict[str, FakeNotionPage] = field(default_factory=dict)
    data_sources: dict[str, FakeDataSource] = field(default_factory=dict)
    page_size: int = 2
    rate_limited_once: set[str] = field(default_factory=set)
    # Pages whose block children answer 500 (a page that cannot be fetched).
    broken: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def start(self) -> FakeNotion:
        routes = [
            Route("/v1/search", self._search, methods=["POST"]),
            Route("/v1/pages/{id}", self._page),
            Route("/v1/data_sources/{id}", self._data_source),
            Route("/v1/databases/{id}", self._database),
            Route("/v1/blocks/{id}/children", self._children),
        ]
        self.server = BackgroundServer(Starlette(routes=routes)).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def requested(self, fragment: str) -> list[str]:
        with self._lock:
            return [path for path in self.requests if fragment in path]

    def content_requests(self) -> list[str]:
        return self.requested("/children")

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- plumbing ---

    def _gate(self, request: Request) -> Response | None:
        with self._lock:
            self.requests.append(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "unauthorized", "API token is invalid.")
        if request.headers.get("notion-version") != "2025-09-03":
            return _error(400, "missing_version", "Notion-Version header failed validation.")
        if request.url.path in self.rate_limited_once:
            self.rate_limited_once.discard(request.url.path)
            return JSONResponse(
                {"object": "error", "status": 429, "code": "rate_limited", "message": "Slow down."},
                status_code=429,
                headers={"Retry-After": "1"},
            )
        return None

    def _parent(self, parent: str) -> dict[str, Any]:
        if parent == "workspace":
            return {"type": "workspace", "workspace": True}
        if parent in self.data_sources:
            return {
                "type": "data_source_id",
                "data_source_id": parent,
                "database_id": self.data_sources[parent].database,
            }
        return {"type": "page_id", "page_id": parent}

    def _page_object(self, page_id: str) -> dict[str, Any]:
        page = self.pages[page_id]
        properties = {
            "Name" if page.parent in self.data_sources else "title": {"type": "title", "title": rich(page.title)}
        }
        properties |= page.properties
        return {
            "object": "page",
            "id": page_id,
            "parent": self._parent(page.parent),
            "last_edited_time": page.last_edited,
            "in_trash": False,
            "url": f"https://www.notion.so/{page.title.replace(' ', '-')}-{page_id.replace('-', '')}",
            "properties": properties,
        }

    def _data_source_object(self, source_id: str) -> dict[str, Any]:
        source = self.data_sources[source_id]
        return {
            "object": "data_source",
            "id": source_id,
            "title": rich(source.title),
            "parent": {"type": "database_id", "database_id": source.database},
            "database_parent": self._parent(source.parent),
            "last_edited_time": source.last_edited,
            "url": f"https://www.notion.so/{source.database}",
            "properties": {},
        }

    # --- routes ---

    async def _search(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        body = await request.json()
        descending = (body.get("sort") or {}).get("direction", "descending") == "descending"
        found = [(p.last_edited, "page", key) for key, p in self.pages.items()]
        found += [(s.last_edited, "data_source", key) for key, s in self.data_sources.items()]
        wanted = (body.get("filter") or {}).get("value")
        found = [entry for entry in found if wanted in (None, entry[1])]
        found.sort(reverse=descending)
        start = int(body.get("start_cursor") or 0)
        limit = min(int(body.get("page_size") or 100), self.page_size)
        chunk = found[start : start + limit]
        results = [
            self._page_object(key) if kind == "page" else self._data_source_object(key) for _, kind, key in chunk
        ]
        more = start + limit < len(found)
        return JSONResponse(
            {
                "object": "list",
                "results": results,
                "has_more": more,
                "next_cursor": str(start + limit) if more else None,
            }
        )

    async def _page(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if request.path_params["id"] not in self.pages:
            return _error(404, "object_not_found", "Could not find page.")
        return JSONResponse(self._page_object(request.path_params["id"]))

    async def _data_source(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if request.path_params["id"] not in self.data_sources:
            return _error(404, "object_not_found", "Could not find data source.")
        return JSONResponse(self._data_source_object(request.path_params["id"]))

    async def _database(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        sources = [key for key, s in self.data_sources.items() if s.database == request.path_params["id"]]
        if not sources:
            return _error(404, "object_not_found", "Could not find database.")
        first = self.data_sources[sources[0]]
        return JSONResponse(
            {
                "object": "database",
                "id": request.path_params["id"],
                "title": rich(first.title),
                "parent": self._parent(first.parent),
                "data_sources": [{"id": key, "name": self.data_sources[key].title} for key in sources],
            }
        )

    async def _children(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        block_id = request.path_params["id"]
        if block_id in self.broken:
            return _error(500, "internal_server_error", "Unexpected error.")
        if block_id in self.pages:
            children = self.pages[block_id].blocks
        else:
            children = self._block_children(block_id)
            if children is None:
                return _error(404, "object_not_found", "Could not find block.")
        start = int(request.query_params.get("start_cursor") or 0)
        limit = min(int(request.query_params.get("page_size") or 100), self.page_size)
        chunk = children[start : start + limit]
        results = []
        for index, child in enumerate(chunk, start):
            block_id_of_child = f"{block_id}_{index}"
            rendered = {k: v for k, v in child.items() if k != "children"}
            results.append(
                {"object": "block", "id": block_id_of_child, "has_children": bool(child["children"]), **rendered}
            )
        more = start + limit < len(children)
        return JSONResponse(
            {
                "object": "list",
                "results": results,
                "has_more": more,
                "next_cursor": str(start + limit) if more else None,
            }
        )

    def _block_children(self, block_id: str) -> list[dict[str, Any]] | None:
        """Children of a nested block, addressed as ``PAGE_INDEX[_INDEX...]``."""
        page_id, *path = block_id.split("_")
        if page_id not in self.pages or not path:
            return None
        children = self.pages[page_id].blocks
        for index in path:
            if not index.isdigit() or int(index) >= len(children):
                return None
            children = children[int(index)]["children"]
        return children


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"object": "error", "status": status, "code": code, "message": message}, status_code=status)
