"""A Confluence REST API (v1, as Cloud and Data Center both serve it) on loopback, speaking the documented shapes:
CQL content search with ``expand`` (version, space, ancestors, container, read restrictions, body.storage,
extensions), ``_links.next`` pagination relative to ``_links.context``, space permissions, group members and
attachment downloads; basic auth (Cloud) or a bearer token (Data Center); scripted 429s and failures.

Every request is recorded (path and query), so tests and benchmarks count what a sync asked for; a search that
expands ``body.storage`` or a download is a content request.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer

CONTEXT = "/wiki"


@dataclass
class FakePage:
    title: str
    space: str
    body: str
    parent: str | None = None
    version: int = 1
    modified: str = "2026-11-01T10:00:00.000Z"
    # Read restriction of the page itself: account ids and group names (both empty: none).
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


@dataclass
class FakeAttachment:
    title: str
    page: str
    media_type: str
    data: bytes
    version: int = 1
    modified: str = "2026-11-01T10:00:00.000Z"


@dataclass
class FakeSpace:
    groups: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    anonymous: bool = False
    permissions_status: int = 200


@dataclass
class FakeConfluence:
    email: str = "bot@acme.example"
    token: str = "atlassian-test-token"
    # Data Center: a bearer token instead of basic auth.
    bearer: bool = False
    spaces: dict[str, FakeSpace] = field(default_factory=dict)
    pages: dict[str, FakePage] = field(default_factory=dict)
    attachments: dict[str, FakeAttachment] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)  # account id -> email
    groups: dict[str, list[str]] = field(default_factory=dict)  # group name -> account ids
    page_size: int = 2
    rate_limited_once: set[str] = field(default_factory=set)
    # Search calls answered with 500 after this many succeeded (None: never).
    fail_searches_after: int | None = None
    requests: list[str] = field(default_factory=list)
    _searches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url + CONTEXT

    def start(self) -> FakeConfluence:
        routes = [
            Route(f"{CONTEXT}/rest/api/content/search", self._search),
            Route(f"{CONTEXT}/rest/api/space/{{key}}", self._space),
            Route(f"{CONTEXT}/rest/api/group/{{name}}/member", self._group_members),
            Route(f"{CONTEXT}/download/attachments/{{page}}/{{attachment}}", self._download),
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
        """Searches that expanded bodies, and attachment downloads."""
        with self._lock:
            return [p for p in self.requests if "body.storage" in p or "/download/" in p]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def edit(self, page_id: str, *, when: str, **changes: Any) -> None:
        page = self.pages[page_id]
        for key, value in changes.items():
            setattr(page, key, value)
        page.version += 1
        page.modified = when

    # --- plumbing ---

    def _gate(self, request: Request) -> Response | None:
        with self._lock:
            self.requests.append(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if self.bearer:
            expected = f"Bearer {self.token}"
        else:
            expected = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"statusCode": 401, "message": "Unauthorized"}, status_code=401)
        if request.url.path in self.rate_limited_once:
            self.rate_limited_once.discard(request.url.path)
            return JSONResponse({"message": "Rate limited"}, status_code=429, headers={"Retry-After": "1"})
        return None

    def _user(self, account_id: str) -> dict[str, Any]:
        return {"type": "known", "accountId": account_id, "email": self.accounts.get(account_id)}

    def _restrictions(self, users: list[str], groups: list[str]) -> dict[str, Any]:
        return {
            "read": {
                "operation": "read",
                "restrictions": {
                    "user": {"results": [self._user(u) for u in users], "size": len(users)},
                    "group": {"results": [{"type": "group", "name": g} for g in groups], "size": len(groups)},
                },
            }
        }

    def _ancestors(self, page_id: str) -> list[dict[str, Any]]:
        chain = []
        parent = self.pages[page_id].parent
        while parent is not None:
            chain.insert(0, {"id": parent, "type": "page", "title": self.pages[parent].title})
            parent = self.pages[parent].parent
        return chain

    def _page_result(self, page_id: str, expand: str) -> dict[str, Any]:
        page = self.pages[page_id]
        result: dict[str, Any] = {
            "id": page_id,
            "type": "page",
            "status": "current",
            "title": page.title,
            "space": {"key": page.space},
            "version": {"number": page.version, "when": page.modified},
            "ancestors": self._ancestors(page_id),
            "restrictions": self._restrictions(page.users, page.groups),
            "_links": {"webui": f"/spaces/{page.space}/pages/{page_id}", "self": f"/rest/api/content/{page_id}"},
        }
        if "body.storage" in expand:
            result["body"] = {"storage": {"value": page.body, "representation": "storage"}}
        return result

    def _attachment_result(self, attachment_id: str) -> dict[str, Any]:
        attachment = self.attachments[attachment_id]
        page = self.pages[attachment.page]
        return {
            "id": attachment_id,
            "type": "attachment",
            "status": "current",
            "title": attachment.title,
            "space": {"key": page.space},
            "version": {"number": attachment.version, "when": attachment.modified},
            "container": {"id": attachment.page, "type": "page", "title": page.title},
            "restrictions": self._restrictions([], []),
            "extensions": {"mediaType": attachment.media_type, "fileSize": len(attachment.data)},
            "_links": {
                "webui": f"/spaces/{page.space}/pages/{attachment.page}?preview=/{attachment_id}",
                "download": f"/download/attachments/{attachment.page}/{attachment_id}?version={attachment.version}",
            },
        }

    def _matching(self, cql: str) -> list[tuple[str, str]]:
        """(kind, id) of what the CQL forms the connector writes select, oldest modification first."""
        ids = re.fullmatch(r"id in \(([^)]*)\)", cql)
        if ids:
            wanted = [key.strip() for key in ids.group(1).split(",")]
            return [("page", key) for key in wanted if key in self.pages] + [
                ("attachment", key) for key in wanted if key in self.attachments
            ]
        spaces = re.search(r"space in \(([^)]*)\)", cql)
        keys = {key.strip().strip('"') for key in spaces.group(1).split(",")} if spaces else set()
        kinds = re.search(r"type in \(([^)]*)\)", cql)
        types = {kind.strip() for kind in kinds.group(1).split(",")} if kinds else {"page"}
        since_match = re.search(r'lastmodified >= "([^"]+)"', cql)
        since = datetime.strptime(since_match.group(1), "%Y/%m/%d %H:%M").replace(tzinfo=UTC) if since_match else None
        found: list[tuple[str, str, str]] = []
        if "page" in types:
            found += [(p.modified, "page", key) for key, p in self.pages.items() if p.space in keys]
        if "attachment" in types:
            found += [
                (a.modified, "attachment", key)
                for key, a in self.attachments.items()
                if self.pages[a.page].space in keys
            ]
        if since is not None:
            found = [entry for entry in found if _minute(entry[0]) >= since]
        found.sort()
        return [(kind, key) for _, kind, key in found]

    # --- routes ---

    async def _search(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        with self._lock:
            self._searches += 1
            failing = self.fail_searches_after is not None and self._searches > self.fail_searches_after
        if failing:
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        cql = request.query_params.get("cql", "")
        expand = request.query_params.get("expand", "")
        start = int(request.query_params.get("start", "0"))
        limit = min(int(request.query_params.get("limit", "25")), self.page_size)
        matching = self._matching(cql)
        chunk = matching[start : start + limit]
        results = [
            self._page_result(key, expand) if kind == "page" else self._attachment_result(key) for kind, key in chunk
        ]
        links: dict[str, Any] = {"base": self.url, "context": CONTEXT}
        if start + limit < len(matching):
            query = dict(request.query_params) | {"start": str(start + limit)}
            links["next"] = f"{CONTEXT}/rest/api/content/search?{urlencode(query)}"
        return JSONResponse({"results": results, "start": start, "limit": limit, "size": len(chunk), "_links": links})

    async def _space(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        key = request.path_params["key"]
        space = self.spaces.get(key)
        if space is None:
            return JSONResponse({"message": "No space with key"}, status_code=404)
        if space.permissions_status != 200:
            return JSONResponse({"message": "Not permitted"}, status_code=space.permissions_status)
        subjects = {
            "user": {"results": [self._user(u) for u in space.users], "size": len(space.users)},
            "group": {"results": [{"type": "group", "name": g} for g in space.groups], "size": len(space.groups)},
        }
        permissions = [
            {"operation": {"operation": "read", "targetType": "space"}, "subjects": subjects, "anonymousAccess": False}
        ]
        if space.anonymous:
            permissions.append({"operation": {"operation": "read", "targetType": "space"}, "anonymousAccess": True})
        return JSONResponse({"key": key, "name": key, "permissions": permissions})

    async def _group_members(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        members = self.groups.get(request.path_params["name"])
        if members is None:
            return JSONResponse({"message": "No group"}, status_code=404)
        start = int(request.query_params.get("start", "0"))
        limit = min(int(request.query_params.get("limit", "200")), self.page_size)
        links: dict[str, Any] = {"base": self.url, "context": CONTEXT}
        if start + limit < len(members):
            links["next"] = f"{request.url.path}?{urlencode({'start': start + limit, 'limit': limit})}"
        chunk = members[start : start + limit]
        return JSONResponse({"results": [self._user(m) for m in chunk], "size": len(chunk), "_links": links})

    async def _download(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        attachment = self.attachments.get(request.path_params["attachment"])
        if attachment is None:
            return Response(status_code=404)
        return Response(attachment.data, media_type=attachment.media_type)


def _minute(when: str) -> datetime:
    parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return parsed.replace(second=0, microsecond=0)
