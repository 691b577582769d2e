"""URL normalisation, crawl scope, link extraction and sitemap parsing for the web source."""

from __future__ import annotations

import gzip
import posixpath
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, Tag
from defusedxml import ElementTree

from knowledge.errors import DocumentParseError

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Links to these are assets, not pages; skipping them saves a request each.
_ASSET_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .gif .svg .webp .ico .bmp .css .js .mjs .map .json .xml .rss .atom .zip .gz .tgz .tar .7z "
    ".mp3 .mp4 .mov .webm .avi .woff .woff2 .ttf .otf .eot .exe .dmg .iso .apk .csv .xlsx .pptx".split()
)
_SITEMAP_NAMESPACE = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def normalise_url(url: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment, lower-case scheme and host, no default port, ``/`` for an empty path.

    Returns ``None`` for anything that is not an http(s) URL (``mailto:``, ``javascript:``, malformed).
    """
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    if "/." in path:
        trailing = "/" if path.endswith("/") else ""
        path = posixpath.normpath(path) + trailing
        path = path.replace("//", "/")
    return urlunsplit((scheme, host, path, parts.query, ""))


def directory_of(url: str) -> str:
    """The path prefix of a URL's folder: ``/docs/`` for ``/docs/`` and ``/docs/intro.html``, ``/`` for ``/docs``."""
    path = urlsplit(url).path or "/"
    return path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"


@dataclass(frozen=True)
class CrawlScope:
    """The pages a web source may fetch: one origin, paths under one prefix."""

    origin: str
    path_prefix: str

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin and (parts.path or "/").startswith(self.path_prefix)

    def relative_path(self, url: str) -> str:
        """The URL's path (and query) without the leading ``/``, the string access rules match against."""
        parts = urlsplit(url)
        return parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class PageDirectives:
    """What a page allows a crawler: index it, follow its links (``<meta name="robots">``, ``X-Robots-Tag``)."""

    index: bool = True
    follow: bool = True

    @classmethod
    def parse(cls, *values: str) -> PageDirectives:
        words = {word.strip().lower() for value in values for word in value.split(",")}
        return cls(index=not words & {"noindex", "none"}, follow=not words & {"nofollow", "none"})


def page_directives(html: bytes, header: str | None = None) -> PageDirectives:
    """The page's robots directives from its ``<meta name="robots">`` tags and the ``X-Robots-Tag`` header."""
    soup = BeautifulSoup(html, "html.parser")
    values = [header or ""]
    for meta in soup.find_all("meta", attrs={"name": True, "content": True}):
        if isinstance(meta, Tag) and str(meta.get("name")).lower() == "robots":
            values.append(str(meta.get("content")))
    return PageDirectives.parse(*values)


def page_links(html: bytes, page_url: str) -> list[str]:
    """Every distinct normalised link on an HTML page (navigation included: it is how a crawl finds pages)."""
    soup = BeautifulSoup(html, "html.parser")
    base_element = soup.find("base", href=True)
    base = urljoin(page_url, str(base_element["href"])) if isinstance(base_element, Tag) else page_url
    links: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        if not isinstance(anchor, Tag) or "nofollow" in (anchor.get("rel") or []):
            continue
        link = normalise_url(str(anchor["href"]), base)
        if link and posixpath.splitext(urlsplit(link).path)[1].lower() not in _ASSET_EXTENSIONS:
            links[link] = None
    return list(links)


@dataclass(frozen=True)
class SitemapEntry:
    url: str
    lastmod: str | None = None


@dataclass(frozen=True)
class Sitemap:
    """A parsed sitemap: page entries of a ``<urlset>``, or the child sitemaps of a ``<sitemapindex>``."""

    pages: tuple[SitemapEntry, ...]
    sitemaps: tuple[str, ...]


def parse_sitemap(data: bytes) -> Sitemap:
    """Parse a (possibly gzip-compressed) XML sitemap or sitemap index, safely against XML entity attacks."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise DocumentParseError(f"sitemap is not valid XML ({error})") from error
    namespace = _SITEMAP_NAMESPACE if root.tag.startswith(_SITEMAP_NAMESPACE) else ""
    entries = []
    for element in root.findall(f"{namespace}url") + root.findall(f"{namespace}sitemap"):
        location = element.findtext(f"{namespace}loc")
        if location and location.strip():
            entries.append(
                SitemapEntry(location.strip(), (element.findtext(f"{namespace}lastmod") or "").strip() or None)
            )
    if root.tag == f"{namespace}sitemapindex":
        return Sitemap(pages=(), sitemaps=tuple(entry.url for entry in entries))
    if root.tag == f"{namespace}urlset":
        return Sitemap(pages=tuple(entries), sitemaps=())
    raise DocumentParseError(f"not a sitemap: root element is {root.tag!r}, expected urlset or sitemapindex")
