"""A website, read through its sitemap or crawled from a start URL within one origin and path prefix.

Polite by construction: robots.txt is honoured as RFC 9309 reads it (wildcards, ``$``, the longest match wins; a
missing one allows everything; one that answers 5xx or cannot be reached stops the crawl), requests are spaced by
``delay_seconds`` (or the site's ``Crawl-delay`` if longer), and pages known from the last sync are fetched
conditionally, so an unchanged page costs a 304 and no body.

Safe by construction too, since every link and redirect is the site's word: redirects are followed by hand, each
hop checked against the crawl scope (and robots.txt) before it is requested, and every connection goes through
the network policy, so neither a link nor a redirect reaches loopback, private or cloud-metadata addresses unless
the source's ``allowed_networks`` lets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx
from protego import Protego
from pydantic import Field, model_validator
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from knowledge.documents import SourceDocument
from knowledge.errors import BlockedAddressError, DocumentParseError, SourceConfigError, SourceUnavailableError
from knowledge.network_policy import AllowedNetwork, NetworkPolicy, guarded_transport
from knowledge.parsing import find_format, title_from_name
from knowledge.sources.abc import FetchFailure, KnownDocument, Source, Unchanged
from knowledge.sources.source_config import SourceAccessConfig, SourceConfigBase
from knowledge.sources.web_links import (
    CrawlScope,
    PageDirectives,
    directory_of,
    normalise_url,
    origin_of,
    page_directives,
    page_links,
    parse_sitemap,
)

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "SwitchboardBot/0.1 (+https://github.com/switchboard-ai/switchboard)"
_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_GONE_STATUSES = frozenset({404, 410})
_MAX_SITEMAPS = 50
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# RFC 9309 asks crawlers to follow at least five redirects for robots.txt; pages get no more.
_MAX_REDIRECTS = 5
_OUTSIDE_SCOPE = "outside the crawl scope (another host, or a path outside allowed_path_prefix)"

# Why a redirect to this URL may not be followed, or None when it may.
HopCheck = Callable[[str], str | None]


class WebSourceConfig(SourceConfigBase, SourceAccessConfig):
    """``[[sources]]`` entry of ``type = "web"``: give ``sitemap_url``, ``start_url``, or both.

    With a sitemap, its pages are the listing; with only a start URL, pages are found by following links.
    Access rules match the URL path without its leading ``/`` (e.g. ``internal/**``).
    """

    type: Literal["web"] = "web"
    start_url: str | None = None
    sitemap_url: str | None = None
    allowed_path_prefix: str | None = Field(
        default=None, description="Only URLs whose path starts with this are fetched; default: start URL's folder."
    )
    max_pages: int = Field(default=1000, gt=0)
    delay_seconds: float = Field(default=0.5, ge=0)
    timeout_seconds: float = Field(default=20.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=1.0, ge=0)
    max_page_bytes: int = Field(default=20_000_000, gt=0)
    user_agent: str = DEFAULT_USER_AGENT
    allowed_networks: tuple[AllowedNetwork, ...] = Field(
        default=(),
        description="Non-public networks this source may reach (['10.20.0.0/16'] for an intranet); "
        "default: public addresses only.",
    )

    @model_validator(mode="after")
    def _where_to_start(self) -> WebSourceConfig:
        if self.start_url is None and self.sitemap_url is None:
            raise ValueError("a web source needs start_url or sitemap_url")
        for url in (self.start_url, self.sitemap_url):
            if url is not None and normalise_url(url) is None:
                raise ValueError(f"expected an absolute http(s) URL, got {url!r}")
        if self.allowed_path_prefix is not None and not self.allowed_path_prefix.startswith("/"):
            raise ValueError(f"allowed_path_prefix must start with '/', got {self.allowed_path_prefix!r}")
        return self

    def scope(self) -> CrawlScope:
        anchor = _absolute_url(self.start_url or self.sitemap_url)
        default_prefix = directory_of(anchor) if self.start_url else "/"
        return CrawlScope(origin=origin_of(anchor), path_prefix=self.allowed_path_prefix or default_prefix)

    def network_policy(self) -> NetworkPolicy:
        return NetworkPolicy(
            allowed_networks=self.allowed_networks, setting=f"allowed_networks of source {self.name!r}"
        )


@dataclass(frozen=True)
class _Response:
    url: str
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes


class _TransientStatusError(Exception):
    """A retryable HTTP status; carries the last response for the failure report."""

    def __init__(self, response: _Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class _TooLargeError(Exception):
    pass


class _RefusedError(Exception):
    """The request, or a redirect it answered with, goes somewhere this source must not go."""


class WebSource(Source):
    """Yields the pages of one website section; see the module docstring for its politeness rules."""

    def __init__(self, config: WebSourceConfig) -> None:
        self.config = config
        self.name = config.name
        self.listing_complete = True
        self.scope = config.scope()

    async def fetch(
        self, known: Mapping[str, KnownDocument]
    ) -> AsyncIterator[SourceDocument | Unchanged | FetchFailure]:
        self.listing_complete = True
        async with httpx.AsyncClient(
            transport=guarded_transport(self.config.network_policy()),
            timeout=self.config.timeout_seconds,
            follow_redirects=False,  # every hop is checked first, in _follow
            headers={"User-Agent": self.config.user_agent},
        ) as client:
            robots = await self._robots(client)
            if robots is None:
                self.listing_complete = False
                return
            delay = max(self.config.delay_seconds, float(robots.crawl_delay(self.config.user_agent) or 0))
            page_hop = self._page_hop_check(robots)
            crawling = self.config.sitemap_url is None
            lastmod: dict[str, str | None] = {}
            if crawling:
                start = _absolute_url(self.config.start_url)
                listed = {start}
                # Pages from the last sync are visited too: an unchanged page answers 304 without a body, so its
                # links cannot be followed, yet the pages it links to must still be seen (or they get deleted).
                queue = deque([start, *(url for url in known if url != start and self.scope.contains(url))])
            else:
                lastmod = await self._sitemap_pages(client)
                listed = set(lastmod)
                queue = deque(lastmod)
            queued = set(queue)
            yielded: set[str] = set()
            fetched = 0
            while queue:
                if fetched >= self.config.max_pages:
                    self.listing_complete = False
                    logger.warning(
                        "source %s: stopped at max_pages=%d with %d pages left; nothing will be deleted this sync",
                        self.name,
                        self.config.max_pages,
                        len(queue),
                    )
                    break
                url = queue.popleft()
                if url in yielded:  # already reached through a redirect
                    continue
                if not robots.can_fetch(url, self.config.user_agent):
                    logger.info("source %s: robots.txt disallows %s; skipped", self.name, url)
                    continue
                if fetched and delay:
                    await asyncio.sleep(delay)
                fetched += 1
                result, links = await self._fetch_page(
                    client, url, known, page_hop, listed=url in listed, yielded=yielded, follow_links=crawling
                )
                for link in links:
                    if self.scope.contains(link):
                        listed.add(link)
                        if link not in queued:
                            queued.add(link)
                            queue.append(link)
                if result is None:
                    continue
                if isinstance(result, SourceDocument) and result.updated_at is None and lastmod.get(url):
                    result = result.model_copy(update={"updated_at": _parse_lastmod(lastmod[url])})
                yielded.add(result.external_id)
                yield result

    def _page_hop_check(self, robots: Protego) -> HopCheck:
        def refusal(url: str) -> str | None:
            if not self.scope.contains(url):
                return _OUTSIDE_SCOPE
            if not robots.can_fetch(url, self.config.user_agent):
                return "which robots.txt disallows"
            return None

        return refusal

    async def _robots(self, client: httpx.AsyncClient) -> Protego | None:
        """The site's robots.txt rules; ``None`` when it cannot be read and crawling must wait (RFC 9309).

        Raises:
            SourceUnavailableError: the site's address is one the network policy refuses.
        """
        robots_url = f"{self.scope.origin}/robots.txt"
        try:
            # Its redirects may cross hosts (RFC 9309); they only ever yield rules, and the address check still holds.
            response = await self._get(client, robots_url, {}, _any_web_url)
        except BlockedAddressError as error:
            raise SourceUnavailableError(f"source {self.name!r}: cannot read {robots_url}: {error}") from error
        except (httpx.HTTPError, _TransientStatusError, _TooLargeError, _RefusedError) as error:
            logger.warning("source %s: robots.txt unreachable (%s); not crawling this time", self.name, error)
            return None
        if response.status >= 500:
            logger.warning("source %s: robots.txt answered %d; not crawling this time", self.name, response.status)
            return None
        return Protego.parse(response.body.decode("utf-8", "replace") if response.status == 200 else "")

    async def _sitemap_pages(self, client: httpx.AsyncClient) -> dict[str, str | None]:
        """In-scope page URLs of the sitemap (following sitemap indexes) with their ``lastmod``."""
        first = _absolute_url(self.config.sitemap_url)
        pending, seen = deque([first]), {first}
        pages: dict[str, str | None] = {}
        while pending:
            sitemap_url = pending.popleft()
            try:
                response = await self._get(client, sitemap_url, {}, _same_origin_as(sitemap_url))
                if response.status != 200:
                    raise DocumentParseError(f"HTTP {response.status} {response.reason}")
                sitemap = parse_sitemap(response.body)
            except (
                httpx.HTTPError,
                _TransientStatusError,
                _TooLargeError,
                _RefusedError,
                BlockedAddressError,
                DocumentParseError,
            ) as error:
                if sitemap_url == first:
                    raise SourceUnavailableError(
                        f"source {self.name!r}: sitemap {sitemap_url} could not be read ({error}); check sitemap_url"
                    ) from error
                logger.warning("source %s: child sitemap %s failed (%s)", self.name, sitemap_url, error)
                self.listing_complete = False
                continue
            for child in sitemap.sitemaps:
                child_url = normalise_url(child, sitemap_url)
                if child_url and child_url not in seen and len(seen) < _MAX_SITEMAPS:
                    seen.add(child_url)
                    pending.append(child_url)
            for entry in sitemap.pages:
                page_url = normalise_url(entry.url, sitemap_url)
                if page_url and self.scope.contains(page_url):
                    pages.setdefault(page_url, entry.lastmod)
        return pages

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], hop_check: HopCheck
    ) -> _Response:
        """GET with bounded retries on connection errors, timeouts and 429/5xx answers.

        Raises:
            _RefusedError: a redirect leads where ``hop_check`` (or the redirect limit) does not allow.
            BlockedAddressError: the URL or a redirect's host is an address the network policy refuses.
        """
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=wait_exponential(multiplier=self.config.retry_backoff_seconds, max=30),
            retry=retry_if_exception_type((httpx.TransportError, _TransientStatusError)),
            reraise=True,
        ):
            with attempt:
                response = await self._follow(client, url, headers, hop_check)
                if response.status in _TRANSIENT_STATUSES:
                    raise _TransientStatusError(response)
                return response
        raise AssertionError("unreachable: tenacity re-raises after the last attempt")

    async def _follow(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], hop_check: HopCheck
    ) -> _Response:
        """Request ``url`` and follow its redirects by hand, checking each target before requesting it."""
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            response = await self._download(client, current, headers)
            location = response.headers.get("location")
            if response.status not in _REDIRECT_STATUSES or not location:
                return response
            target = normalise_url(location, current)
            if target is None:
                raise _RefusedError(f"redirects to {location!r}, which is not an http(s) URL")
            refusal = hop_check(target)
            if refusal is not None:
                raise _RefusedError(f"redirects to {target}, {refusal}")
            current = target
        raise _RefusedError(f"more than {_MAX_REDIRECTS} redirects in a row")

    async def _download(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> _Response:
        limit = self.config.max_page_bytes
        async with client.stream("GET", url, headers=headers) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _TooLargeError(f"{int(declared):,} bytes, above max_page_bytes={limit:,}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise _TooLargeError(f"more than max_page_bytes={limit:,} bytes")
            return _Response(
                str(response.url), response.status_code, response.reason_phrase, response.headers, bytes(body)
            )

    async def _fetch_page(
        self,
        client: httpx.AsyncClient,
        url: str,
        known: Mapping[str, KnownDocument],
        hop_check: HopCheck,
        *,
        listed: bool,
        yielded: set[str],
        follow_links: bool,
    ) -> tuple[SourceDocument | Unchanged | FetchFailure | None, list[str]]:
        """One page's result (``None``: nothing to report, e.g. gone or a duplicate) and its links."""
        headers = {}
        previous = known.get(url)
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        try:
            response = await self._get(client, url, headers, hop_check)
        except (_RefusedError, BlockedAddressError) as error:
            logger.warning("source %s: %s refused: %s", self.name, url, error)
            return FetchFailure(external_id=url, url=url, reason=f"refused: {error}", refused=True), []
        except _TransientStatusError as error:
            status = error.response
            return FetchFailure(external_id=url, url=url, reason=f"HTTP {status.status} {status.reason}"), []
        except _TooLargeError as error:
            return FetchFailure(external_id=url, url=url, reason=f"page too large: {error}"), []
        except httpx.HTTPError as error:
            return FetchFailure(external_id=url, url=url, reason=f"request failed: {type(error).__name__}: {error}"), []

        final_url = normalise_url(response.url) or url
        if final_url in yielded:
            logger.info("source %s: %s redirects to %s, already seen", self.name, url, final_url)
            return None, []
        if response.status == 304:
            if not headers:
                return FetchFailure(external_id=url, url=url, reason="HTTP 304 to an unconditional request"), []
            return Unchanged(external_id=final_url), []
        if response.status in _GONE_STATUSES and not listed:
            logger.info("source %s: %s is gone (HTTP %d)", self.name, url, response.status)
            return None, []
        if response.status != 200:
            reason = f"HTTP {response.status} {response.reason}"
            return FetchFailure(external_id=final_url, url=final_url, reason=reason), []

        content_type = response.headers.get("content-type", "")
        document_format = find_format(final_url, content_type)
        if document_format is None:
            if listed and self.config.sitemap_url is not None:
                reason = f"unsupported content type {content_type or 'unknown'!r}"
                return FetchFailure(external_id=final_url, url=final_url, reason=reason), []
            logger.debug("source %s: skipping %s of type %s", self.name, final_url, content_type)
            return None, []
        links: list[str] = []
        robots_header = response.headers.get("x-robots-tag")
        if document_format.name == "html":
            directives = page_directives(response.body, robots_header)
            if directives.follow and follow_links:
                links = page_links(response.body, final_url)
        else:
            directives = PageDirectives.parse(robots_header or "")
        if not directives.index:
            logger.info("source %s: %s asks not to be indexed (noindex); skipped", self.name, final_url)
            return None, links
        try:
            parsed = await asyncio.to_thread(document_format.parse, response.body)
        except DocumentParseError as error:
            return FetchFailure(external_id=final_url, url=final_url, reason=error.reason), links
        last_modified = response.headers.get("last-modified")
        document = SourceDocument(
            source=self.name,
            external_id=final_url,
            title=parsed.title or title_from_name(final_url.split("://", 1)[1]),
            url=final_url,
            content=parsed.content,
            updated_at=_parse_http_date(last_modified),
            access=self.config.access_for(self.scope.relative_path(final_url)),
            etag=response.headers.get("etag"),
            last_modified=last_modified,
        )
        return document, links


def _any_web_url(url: str) -> str | None:
    return None


def _same_origin_as(url: str) -> HopCheck:
    scope = CrawlScope(origin=origin_of(url), path_prefix="/")
    return lambda target: None if scope.contains(target) else "another host than the one asked"


def _absolute_url(url: str | None) -> str:
    normalised = normalise_url(url or "")
    if normalised is None:
        raise SourceConfigError(f"expected an absolute http(s) URL, got {url!r}")
    return normalised


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _parse_lastmod(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
