"""A Jira REST API on loopback, speaking the documented shapes: Cloud's ``/rest/api/3/search/jql`` (``nextPageToken``,
``isLast``) and Data Center's ``/rest/api/2/search`` (``startAt``, ``total``), issue comments (``startAt``), project
permission schemes with ``BROWSE_PROJECTS`` holders, project roles and their actors, issue security level members and
group members (``values``, ``isLast``); basic auth (Cloud) or a bearer token (Data Center); scripted 429s.

Every request is recorded (path and query); a search that asks for ``description`` or a comment page is a content
request.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


def adf(*paragraphs: str) -> dict[str, Any]:
    """An ADF document of plain paragraphs."""
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]} for text in paragraphs],
    }


@dataclass
class FakeIssue:
    key: str
    summary: str
    description: Any
    status: str = "Open"
    resolution: str | None = None
    comments: list[tuple[str, str]] = field(default_factory=list)  # (author, text)
    security_level: str | None = None
    reporter: str | None = None  # account id
    updated: str = "2026-11-01T10:00:00.000+0000"

    @property
    def project(self) -> str:
        return self.key.split("-")[0]


@dataclass
class FakeJira:
    email: str = "bot@acme.example"
    token: str = "jira-test-token"
    bearer: bool = False
    issues: dict[str, FakeIssue] = field(default_factory=dict)  # id -> issue
    # Project key -> Browse projects holders, as (type, parameter) pairs.
    browse: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    roles: dict[str, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)  # project -> role id -> actors
    levels: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # level id -> holders
    accounts: dict[str, str] = field(default_factory=dict)  # account id -> email
    groups: dict[str, list[str]] = field(default_factory=dict)  # group name -> account ids
    scheme_status: int = 200
    # Searches answered with 500 after this many succeeded (None: never).
    fail_searches_after: int | None = None
    _searches: int = 0
    # Issue ids whose comment endpoint fails (a document that cannot be fetched).
    broken_comments: set[str] = field(default_factory=set)
    page_size: int = 2
    comments_in_search: int = 2
    rate_limited_once: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def start(self) -> FakeJira:
        routes = []
        for version in ("2", "3"):
            rest = f"/rest/api/{version}"
            routes += [
                Route(f"{rest}/issue/{{id}}/comment", self._comments),
                Route(f"{rest}/project/{{key}}/permissionscheme", self._project_scheme),
                Route(f"{rest}/permissionscheme/{{id}}", self._scheme),
                Route(f"{rest}/project/{{key}}/role/{{role}}", self._role),
                Route(f"{rest}/issuesecurityschemes/level/member", self._level_members),
                Route(f"{rest}/group/member", self._group_members),
            ]
        routes += [Route("/rest/api/3/search/jql", self._search_jql), Route("/rest/api/2/search", self._search_v2)]
        self.server = BackgroundServer(Starlette(routes=routes)).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def requested(self, fragment: str) -> list[str]:
        with self._lock:
            return [path for path in self.requests if fragment in path]

    def content_requests(self) -> list[str]:
        with self._lock:
            return [p for p in self.requests if "description" in p or p.split("?")[0].endswith("/comment")]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def edit(self, issue_id: str, *, when: str, **changes: Any) -> None:
        issue = self.issues[issue_id]
        for key, value in changes.items():
            setattr(issue, key, value)
        issue.updated = when

    # --- plumbing ---

    def _gate(self, request: Request) -> Response | None:
        with self._lock:
            self.requests.append(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if self.bearer:
            expected = f"Bearer {self.token}"
        else:
            expected = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"errorMessages": ["Unauthorized"]}, status_code=401)
        if request.url.path in self.rate_limited_once:
            self.rate_limited_once.discard(request.url.path)
            return JSONResponse({"errorMessages": ["Rate limited"]}, status_code=429, headers={"Retry-After": "1"})
        return None

    def _user(self, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        return {"accountId": account_id, "emailAddress": self.accounts.get(account_id), "displayName": account_id}

    def _comment(self, index: int, author: str, text: str) -> dict[str, Any]:
        return {
            "id": str(index),
            "author": self._user(author),
            "body": adf(text),
            "created": "2026-11-01T11:00:00.000+0000",
        }

    def _issue(self, issue_id: str, fields: set[str]) -> dict[str, Any]:
        issue = self.issues[issue_id]
        values: dict[str, Any] = {
            "summary": issue.summary,
            "project": {"key": issue.project},
            "updated": issue.updated,
            "status": {"name": issue.status},
            "issuetype": {"name": "Task"},
            "resolution": {"name": issue.resolution} if issue.resolution else None,
            "security": {"id": issue.security_level, "name": f"Level {issue.security_level}"}
            if issue.security_level
            else None,
            "reporter": self._user(issue.reporter),
            "assignee": None,
            "description": issue.description,
            "comment": {
                "comments": [self._comment(i, a, t) for i, (a, t) in enumerate(issue.comments)][
                    : self.comments_in_search
                ],
                "total": len(issue.comments),
                "startAt": 0,
                "maxResults": self.comments_in_search,
            },
        }
        return {"id": issue_id, "key": issue.key, "fields": {k: v for k, v in values.items() if k in fields}}

    def _matching(self, jql: str) -> list[str]:
        projects = re.search(r"project in \(([^)]*)\)", jql)
        keys = {key.strip() for key in projects.group(1).split(",")} if projects else None
        single = re.search(r"project = (\w+)", jql)
        if single:
            keys = {single.group(1)}
        since = None
        relative = re.search(r'updated >= "-(\d+)m"', jql)
        if relative:
            since = datetime.now(UTC) - timedelta(minutes=int(relative.group(1)))
        found = [
            (_time(issue.updated), issue_id)
            for issue_id, issue in self.issues.items()
            if (keys is None or issue.project in keys) and (since is None or _time(issue.updated) >= since)
        ]
        return [issue_id for _, issue_id in sorted(found)]

    # --- routes ---

    async def _search_jql(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        with self._lock:
            self._searches += 1
            failing = self.fail_searches_after is not None and self._searches > self.fail_searches_after
        if failing:
            return JSONResponse({"errorMessages": ["Internal Server Error"]}, status_code=500)
        matching = self._matching(request.query_params.get("jql", ""))
        start = int(request.query_params.get("nextPageToken") or 0)
        limit = min(int(request.query_params.get("maxResults", "50")), self.page_size)
        fields = set(request.query_params.get("fields", "").split(","))
        chunk = matching[start : start + limit]
        body: dict[str, Any] = {
            "issues": [self._issue(i, fields) for i in chunk],
            "isLast": start + limit >= len(matching),
        }
        if not body["isLast"]:
            body["nextPageToken"] = str(start + limit)
        return JSONResponse(body)

    async def _search_v2(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        matching = self._matching(request.query_params.get("jql", ""))
        start = int(request.query_params.get("startAt", "0"))
        limit = min(int(request.query_params.get("maxResults", "50")), self.page_size)
        fields = set(request.query_params.get("fields", "").split(","))
        chunk = matching[start : start + limit]
        return JSONResponse(
            {
                "startAt": start,
                "maxResults": limit,
                "total": len(matching),
                "issues": [self._issue(i, fields) for i in chunk],
            }
        )

    async def _comments(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if request.path_params["id"] in self.broken_comments:
            return JSONResponse({"errorMessages": ["Internal Server Error"]}, status_code=500)
        issue = self.issues[request.path_params["id"]]
        start = int(request.query_params.get("startAt", "0"))
        limit = min(int(request.query_params.get("maxResults", "50")), self.page_size)
        chunk = list(enumerate(issue.comments))[start : start + limit]
        return JSONResponse(
            {
                "comments": [self._comment(i, a, t) for i, (a, t) in chunk],
                "startAt": start,
                "maxResults": limit,
                "total": len(issue.comments),
            }
        )

    async def _project_scheme(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if self.scheme_status != 200:
            return JSONResponse({"errorMessages": ["Forbidden"]}, status_code=self.scheme_status)
        key = request.path_params["key"]
        return JSONResponse({"id": 10000 + sorted(self.browse).index(key), "name": f"{key} scheme"})

    async def _scheme(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        key = sorted(self.browse)[int(request.path_params["id"]) - 10000]
        permissions = [
            {"id": n, "permission": "BROWSE_PROJECTS", "holder": self._holder(kind, parameter)}
            for n, (kind, parameter) in enumerate(self.browse[key])
        ]
        permissions.append({"id": 999, "permission": "CREATE_ISSUES", "holder": {"type": "anyone"}})
        return JSONResponse({"id": int(request.path_params["id"]), "permissions": permissions})

    async def _role(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        actors = self.roles.get(request.path_params["key"], {}).get(request.path_params["role"])
        if actors is None:
            return JSONResponse({"errorMessages": ["No role"]}, status_code=404)
        rendered = []
        for kind, value in actors:
            if kind == "group":
                rendered.append({"type": "atlassian-group-role-actor", "actorGroup": {"name": value, "groupId": value}})
            else:
                rendered.append({"type": "atlassian-user-role-actor", "actorUser": {"accountId": value}})
        return JSONResponse({"id": int(request.path_params["role"]), "name": "Developers", "actors": rendered})

    async def _level_members(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        holders = self.levels.get(request.query_params.get("levelId", ""), [])
        return self._paged(request, [{"issueSecurityLevelId": "x", "holder": self._holder(t, p)} for t, p in holders])

    async def _group_members(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        members = self.groups.get(request.query_params.get("groupname", ""))
        if members is None:
            return JSONResponse({"errorMessages": ["No group"]}, status_code=404)
        return self._paged(request, [self._user(m) for m in members])

    def _holder(self, kind: str, parameter: str) -> dict[str, Any]:
        holder: dict[str, Any] = {"type": kind, "parameter": parameter}
        if kind == "user":
            holder["user"] = self._user(parameter)
        return holder

    def _paged(self, request: Request, values: list[Any]) -> Response:
        start = int(request.query_params.get("startAt", "0"))
        limit = min(int(request.query_params.get("maxResults", "50")), self.page_size)
        chunk = values[start : start + limit]
        return JSONResponse(
            {
                "values": chunk,
                "startAt": start,
                "maxResults": limit,
                "total": len(values),
                "isLast": start + limit >= len(values),
            }
        )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value))
