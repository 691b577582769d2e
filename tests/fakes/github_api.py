"""A GitHub REST API on loopback speaking the documented shapes: repos, git trees and blobs, collaborators, teams,
team members, users, issues and comments; ``Link`` pagination, bearer tokens, scripted 429s and failures.

Every request is recorded (path and query), so tests count what a sync actually asked for.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


@dataclass
class FakeRepository:
    private: bool = False
    default_branch: str = "main"
    files: dict[str, str] = field(default_factory=dict)
    collaborators: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    collaborators_status: int = 200


@dataclass
class FakeGitHub:
    token: str = "ghp-test-token"
    repositories: dict[str, FakeRepository] = field(default_factory=dict)
    teams: dict[str, list[str]] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    # Largest page served, whatever per_page asks: small, so tests exercise pagination.
    page_size: int = 2
    # Paths answered with 429 (Retry-After: 1) once each.
    rate_limited_once: set[str] = field(default_factory=set)
    # Path prefixes answered with 500 (until removed).
    failing: set[str] = field(default_factory=set)
    # (path, page number) pairs answered with 500 (until removed).
    failing_pages: set[tuple[str, int]] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: BackgroundServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def requested(self, fragment: str) -> list[str]:
        with self._lock:
            return [path for path in self.requests if fragment in path]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    @staticmethod
    def sha(content: str) -> str:
        return hashlib.sha1(content.encode(), usedforsecurity=False).hexdigest()

    def start(self) -> FakeGitHub:
        routes = [
            Route("/repos/{owner}/{name}", self._repository),
            Route("/repos/{owner}/{name}/git/trees/{branch:path}", self._tree),
            Route("/repos/{owner}/{name}/git/blobs/{sha}", self._blob),
            Route("/repos/{owner}/{name}/collaborators", self._collaborators),
            Route("/repos/{owner}/{name}/teams", self._repository_teams),
            Route("/repos/{owner}/{name}/issues", self._issues),
            Route("/repos/{owner}/{name}/issues/{number:int}/comments", self._comments),
            Route("/orgs/{org}/teams/{slug}/members", self._team_members),
            Route("/users/{login}", self._user),
        ]
        self.server = BackgroundServer(Starlette(routes=routes)).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    # --- plumbing ---

    def _gate(self, request: Request) -> Response | None:
        path = request.url.path
        with self._lock:
            self.requests.append(path + (f"?{request.url.query}" if request.url.query else ""))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        if path in self.rate_limited_once:
            self.rate_limited_once.discard(path)
            return JSONResponse({"message": "slow down"}, status_code=429, headers={"Retry-After": "1"})
        page = int(request.query_params.get("page", "1"))
        if any(path.startswith(prefix) for prefix in self.failing) or (path, page) in self.failing_pages:
            return JSONResponse({"message": "Server Error"}, status_code=500)
        return None

    def _paged(self, request: Request, items: list[Any]) -> Response:
        page = int(request.query_params.get("page", "1"))
        size = min(int(request.query_params.get("per_page", "30")), self.page_size)
        chunk = items[(page - 1) * size : page * size]
        headers = {}
        if page * size < len(items):
            query = dict(request.query_params) | {"page": str(page + 1)}
            headers["Link"] = f'<{self.url}{request.url.path}?{urlencode(query)}>; rel="next"'
        return JSONResponse(chunk, headers=headers)

    def _repo(self, request: Request) -> tuple[str, FakeRepository | None]:
        full_name = f"{request.path_params['owner']}/{request.path_params['name']}"
        return full_name, self.repositories.get(full_name)

    # --- routes ---

    async def _repository(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        full_name, repo = self._repo(request)
        if repo is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return JSONResponse(
            {
                "full_name": full_name,
                "private": repo.private,
                "visibility": "private" if repo.private else "public",
                "default_branch": repo.default_branch,
                "html_url": f"https://github.example/{full_name}",
            }
        )

    async def _tree(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        _, repo = self._repo(request)
        if repo is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        tree = [{"path": "docs", "type": "tree", "sha": "0" * 40}] + [
            {"path": path, "type": "blob", "sha": self.sha(content), "size": len(content)}
            for path, content in sorted(repo.files.items())
        ]
        return JSONResponse({"sha": "f" * 40, "tree": tree, "truncated": False})

    async def _blob(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        _, repo = self._repo(request)
        for content in repo.files.values() if repo else []:
            if self.sha(content) == request.path_params["sha"]:
                encoded = base64.b64encode(content.encode()).decode()
                return JSONResponse({"sha": request.path_params["sha"], "encoding": "base64", "content": encoded})
        return JSONResponse({"message": "Not Found"}, status_code=404)

    async def _collaborators(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        _, repo = self._repo(request)
        if repo is None or repo.collaborators_status != 200:
            status = 404 if repo is None else repo.collaborators_status
            return JSONResponse(
                {"message": "Must have push access to view repository collaborators."}, status_code=status
            )
        return self._paged(request, [{"login": login, "type": "User"} for login in repo.collaborators])

    async def _repository_teams(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        _, repo = self._repo(request)
        return self._paged(request, [{"slug": slug, "name": slug} for slug in (repo.teams if repo else [])])

    async def _team_members(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        team = f"{request.path_params['org']}/{request.path_params['slug']}"
        return self._paged(request, [{"login": login} for login in self.teams.get(team, [])])

    async def _user(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        login = request.path_params["login"]
        return JSONResponse({"login": login, "email": self.emails.get(login)})

    async def _issues(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        _, repo = self._repo(request)
        issues = sorted(repo.issues if repo else [], key=lambda issue: issue["updated_at"])
        since = request.query_params.get("since")
        if since:
            issues = [issue for issue in issues if issue["updated_at"] >= since.replace("+00:00", "Z")]
        return self._paged(request, issues)

    async def _comments(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        _, repo = self._repo(request)
        issue = next((i for i in (repo.issues if repo else []) if i["number"] == request.path_params["number"]), None)
        return self._paged(request, list((issue or {}).get("comment_list", [])))
