"""A small website on loopback for the web source: pages, robots.txt, sitemaps, ETags and 304s, scripted failures.

Every request is recorded (path, request headers, status answered), so tests assert what the crawler actually did.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer

DEFAULT_LAST_MODIFIED = "Mon, 02 Nov 2026 09:00:00 GMT"


@dataclass
class FakePage:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    # Answer 503 this many times before serving the page (transient failures).
    failures_before_success: int = 0
    last_modified: str | None = DEFAULT_LAST_MODIFIED
    redirect_to: str | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    status: int


def html_page(title: str, body: str, links: list[str] | None = None) -> bytes:
    """A page with site chrome (header, nav with ``links``, footer) around ``body``."""
    nav = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links or [])
    return (
        f"<!doctype html><html><head><title>{title} | Northwind</title><script>track()</script></head><body>"
        f"<header><a href='/'>Northwind</a></header><nav><ul>{nav}</ul></nav>"
        f"<main><h1>{title}</h1>{body}</main><footer>Copyright Northwind Traders</footer></body></html>"
    ).encode()


@dataclass
class FakeWebsite:
    pages: dict[str, FakePage] = field(default_factory=dict)
    robots_txt: str | None = None
    robots_status: int = 200
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page(self, path: str, body: bytes | str, **options: object) -> FakePage:
        page = FakePage(body.encode() if isinstance(body, str) else body, **options)  # type: ignore[arg-type]
        self.pages[path] = page
        return page

    def requested(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    async def _serve(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = self._answer(request, path)
        with self._lock:
            self.requests.append(RecordedRequest(path, dict(request.headers), response.status_code))
        return response

    def _answer(self, request: Request, path: str) -> Response:
        if path == "/robots.txt" and path not in self.pages:  # a page at /robots.txt can redirect it
            if self.robots_txt is None:
                return Response("not found", status_code=404)
            return Response(self.robots_txt, status_code=self.robots_status, media_type="text/plain")
        page = self.pages.get(path)
        if page is None:
            return Response("not found", status_code=404)
        if page.failures_before_success > 0:
            page.failures_before_success -= 1
            return Response("try again", status_code=503)
        if page.redirect_to is not None:
            return Response(status_code=301, headers={"Location": page.redirect_to})
        if page.status != 200:
            return Response("error", status_code=page.status)
        headers = {"ETag": page.etag}
        if page.last_modified:
            headers["Last-Modified"] = page.last_modified
        if request.headers.get("if-none-match") == page.etag or (
            "if-none-match" not in request.headers
            and page.last_modified
            and request.headers.get("if-modified-since") == page.last_modified
        ):
            return Response(status_code=304, headers=headers)
        return Response(page.body, headers=headers, media_type=page.content_type)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._serve, methods=["GET", "HEAD"])])

    def start(self, host: str = "127.0.0.1") -> BackgroundServer:
        return BackgroundServer(self.app(), host=host).start()
