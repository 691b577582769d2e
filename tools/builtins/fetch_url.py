"""Fetch a web page from an allow-listed domain, with size and time limits, as plain text.

A URL comes from the model, and so perhaps from a document: besides the domain allow-list, every connection
(redirects included) goes only to public addresses or to networks the operator allow-listed.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, Field

from knowledge import BlockedAddressError, guarded_transport
from tools.abc import ToolContext, tool
from tools.builtins.limited_reading import read_at_most
from tools.errors import ToolRefusedError

MAX_REDIRECTS = 3


class FetchUrlArguments(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description="The absolute http(s) URL to fetch.")


@tool(name="fetch_url")
async def fetch_url(arguments: FetchUrlArguments, context: ToolContext) -> str:
    """Fetch a web page or text file and return its text. Only some domains are allowed; the tool says which if
    the URL is refused. Use it when the user gives a link or a passage points to a page you need to read."""
    settings = context.settings
    url = arguments.url
    # Every hop is checked twice: its host against the domain allow-list here, and the address the host resolves
    # to when the transport connects (public only, unless in tools.fetch_allowed_networks).
    transport = guarded_transport(settings.fetch_network_policy())
    async with httpx.AsyncClient(
        transport=transport, timeout=settings.fetch_timeout_seconds, follow_redirects=False
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_allowed(url, settings.fetch_allowed_domains)
            try:
                async with client.stream("GET", url, headers={"User-Agent": "switchboard-fetch/1"}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    text, truncated = await read_at_most(response, settings.fetch_max_bytes)
            except BlockedAddressError as error:
                raise ToolRefusedError(f"{url} was not fetched: {error}") from None
            if "html" in response.headers.get("content-type", ""):
                text = _html_text(text)
            status = f"HTTP {response.status_code} from {url}"
            suffix = f"\n[cut at {settings.fetch_max_bytes} bytes]" if truncated else ""
            return f"{status}\n\n{text.strip()}{suffix}"
    raise ToolRefusedError(f"{arguments.url} redirected more than {MAX_REDIRECTS} times")


def _check_allowed(url: str, allowed: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolRefusedError(f"{url!r} is not an absolute http(s) URL")
    if not allowed:
        raise ToolRefusedError("fetching URLs is disabled here: no domains are on the allow-list")
    host = parts.hostname.lower()
    if not any(host == domain.lower() or host.endswith("." + domain.lower()) for domain in allowed):
        raise ToolRefusedError(f"{host} is not on the allow-list; allowed domains: {', '.join(allowed)}")


class _TextExtractor(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip_depth += 1
        elif tag in {"p", "br", "li", "h1", "h2", "h3", "h4", "tr", "div"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _html_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
