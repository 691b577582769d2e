"""The web source against a real HTTP server on loopback: crawl scope, robots.txt, sitemaps, 304s, limits, retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from knowledge.documents import SourceDocument
from knowledge.errors import SourceUnavailableError
from knowledge.sources import FetchFailure, KnownDocument, Unchanged, WebSource, WebSourceConfig
from knowledge.sources.abc import FetchResult
from tests.fakes.http_server import BackgroundServer
from tests.fakes.website import FakeWebsite, html_page
from tests.knowledge.document_files import pdf_bytes

LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def site() -> Iterator[tuple[FakeWebsite, str]]:
    website = FakeWebsite()
    server: BackgroundServer = website.start()
    yield website, server.url
    server.stop()


@pytest.fixture
def other_site() -> Iterator[tuple[FakeWebsite, str]]:
    """A second website on another loopback address (127.0.0.2): another host, and not 127.0.0.1/32."""
    website = FakeWebsite()
    server: BackgroundServer = website.start(host="127.0.0.2")
    yield website, server.url
    server.stop()


def web_source(**options: Any) -> WebSource:
    options.setdefault("name", "intranet")
    options.setdefault("delay_seconds", 0)
    options.setdefault("retry_backoff_seconds", 0)
    options.setdefault("allowed_networks", [LOOPBACK])  # the test sites serve on 127.0.0.1
    return WebSource(WebSourceConfig(**options))


async def fetch_all(source: WebSource, known: dict[str, KnownDocument] | None = None) -> dict[str, FetchResult]:
    results: dict[str, FetchResult] = {}
    async for result in source.fetch(known or {}):
        assert result.external_id not in results, f"{result.external_id} yielded twice"
        results[result.external_id] = result
    return results


def documents(results: dict[str, FetchResult]) -> dict[str, SourceDocument]:
    return {key: result for key, result in results.items() if isinstance(result, SourceDocument)}


def small_site(website: FakeWebsite) -> None:
    """/docs/ links to two pages (one by a fragment link, one twice), an asset, a page outside the prefix and
    another host; /docs/guide links on to /docs/deep/."""
    website.page(
        "/docs/",
        html_page(
            "Docs home",
            "<p>Welcome.</p>",
            ["guide#install", "guide", "/docs/faq?", "/docs/logo.png", "/blog/post", "https://other.example/docs/x"],
        ),
    )
    website.page("/docs/guide", html_page("Guide", "<h2>Install</h2><p>Run the installer.</p>", ["deep/"]))
    website.page("/docs/faq", html_page("FAQ", "<p>Ask IT.</p>"))
    website.page("/docs/deep/", html_page("Deep page", "<p>Deep content.</p>"))
    website.page("/blog/post", html_page("Blog", "<p>Outside the prefix.</p>"))


async def test_crawl_follows_links_within_the_prefix_once_each(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)

    results = await fetch_all(web_source(start_url=f"{base}/docs/"))

    assert sorted(documents(results)) == [
        f"{base}/docs/",
        f"{base}/docs/deep/",
        f"{base}/docs/faq",
        f"{base}/docs/guide",
    ]
    guide = documents(results)[f"{base}/docs/guide"]
    assert guide.title == "Guide"
    assert guide.url == f"{base}/docs/guide"
    assert "Run the installer." in guide.content and "Copyright" not in guide.content
    assert guide.etag and guide.last_modified and guide.updated_at is not None
    assert website.requested("/blog/post") == [] and website.requested("/docs/logo.png") == []
    assert len(website.requested("/docs/guide")) == 1


async def test_robots_txt_disallow_is_honoured(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)
    website.robots_txt = "User-agent: *\nDisallow: /docs/faq\n\nUser-agent: SwitchboardBot\nDisallow: /docs/deep/\n"

    source = web_source(start_url=f"{base}/docs/")
    results = await fetch_all(source)

    assert sorted(results) == [f"{base}/docs/", f"{base}/docs/faq", f"{base}/docs/guide"]
    assert website.requested("/docs/deep/") == []
    assert source.listing_complete


async def test_noindex_pages_are_not_listed_and_nofollow_links_are_not_followed(
    site: tuple[FakeWebsite, str],
) -> None:
    website, base = site
    small_site(website)
    website.page(
        "/docs/guide",
        html_page("Guide", '<meta name="robots" content="noindex"><p>Private.</p>', ["deep/"]),
    )
    website.page("/docs/faq", html_page("FAQ", '<meta name="robots" content="nofollow"><p>Q.</p>', ["hidden"]))
    website.page("/docs/hidden", html_page("Hidden", "<p>Only linked from a nofollow page.</p>"))

    results = await fetch_all(web_source(start_url=f"{base}/docs/"))

    assert sorted(results) == [f"{base}/docs/", f"{base}/docs/deep/", f"{base}/docs/faq"]
    assert website.requested("/docs/hidden") == []


async def test_robots_txt_errors_stop_the_crawl_without_deleting_anything(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)
    website.robots_txt, website.robots_status = "oops", 503

    source = web_source(start_url=f"{base}/docs/", max_retries=0)
    results = await fetch_all(source)

    assert results == {}
    assert not source.listing_complete
    assert website.requested("/docs/") == []


async def test_unchanged_pages_cost_a_conditional_request_answered_304(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)
    first = documents(await fetch_all(web_source(start_url=f"{base}/docs/")))
    known = {
        url: KnownDocument(external_id=url, content_hash="h", etag=doc.etag, last_modified=doc.last_modified)
        for url, doc in first.items()
    }
    website.page("/docs/faq", html_page("FAQ", "<p>Ask the IT desk on floor 2.</p>"))
    website.clear_requests()

    second = await fetch_all(web_source(start_url=f"{base}/docs/"), known)

    assert {key for key, result in second.items() if isinstance(result, Unchanged)} == {
        f"{base}/docs/",
        f"{base}/docs/guide",
        f"{base}/docs/deep/",
    }
    faq = second[f"{base}/docs/faq"]
    assert isinstance(faq, SourceDocument) and "floor 2" in faq.content
    guide_request = website.requested("/docs/guide")[0]
    assert guide_request.headers["if-none-match"] == first[f"{base}/docs/guide"].etag
    assert guide_request.headers["if-modified-since"] == first[f"{base}/docs/guide"].last_modified
    assert guide_request.status == 304


async def test_a_page_removed_upstream_is_not_listed_and_a_broken_link_is_a_failure(
    site: tuple[FakeWebsite, str],
) -> None:
    website, base = site
    small_site(website)
    first = documents(await fetch_all(web_source(start_url=f"{base}/docs/")))
    known = {url: KnownDocument(external_id=url, content_hash="h") for url in first}
    del website.pages["/docs/deep/"]
    website.page("/docs/guide", html_page("Guide", "<p>Moved on.</p>"))
    website.page("/docs/faq", html_page("FAQ", "<p>See the missing page.</p>", ["/docs/missing"]))

    source = web_source(start_url=f"{base}/docs/")
    second = await fetch_all(source, known)

    assert f"{base}/docs/deep/" not in second
    missing = second[f"{base}/docs/missing"]
    assert isinstance(missing, FetchFailure) and missing.reason == "HTTP 404 Not Found"
    assert source.listing_complete


async def test_sitemap_index_lists_the_pages_and_their_lastmod(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)
    website.page(
        "/sitemap.xml",
        f"""<?xml version="1.0" encoding="UTF-8"?>
        <sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
          <sitemap><loc>{base}/sitemap-docs.xml</loc></sitemap>
        </sitemapindex>""",
        content_type="application/xml",
    )
    website.page(
        "/sitemap-docs.xml",
        f"""<?xml version="1.0" encoding="UTF-8"?>
        <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
          <url><loc>{base}/docs/guide</loc><lastmod>2026-10-01</lastmod></url>
          <url><loc>{base}/docs/faq#top</loc></url>
          <url><loc>{base}/docs/policy.pdf</loc></url>
          <url><loc>{base}/docs/gone</loc></url>
        </urlset>""",
        content_type="application/xml",
    )
    website.page("/docs/policy.pdf", pdf_bytes(), content_type="application/pdf", last_modified=None)

    source = web_source(sitemap_url=f"{base}/sitemap.xml")
    results = await fetch_all(source)

    assert sorted(documents(results)) == [f"{base}/docs/faq", f"{base}/docs/guide", f"{base}/docs/policy.pdf"]
    pdf = documents(results)[f"{base}/docs/policy.pdf"]
    assert pdf.title == "Travel policy" and "# Booking travel" in pdf.content
    assert pdf.updated_at is None
    gone = results[f"{base}/docs/gone"]
    assert isinstance(gone, FetchFailure) and "404" in gone.reason
    # Links on sitemap pages are not followed: the sitemap is the listing.
    assert website.requested("/docs/deep/") == [] and website.requested("/docs/") == []
    assert source.listing_complete


async def test_an_unreadable_sitemap_fails_the_source(site: tuple[FakeWebsite, str]) -> None:
    _, base = site

    with pytest.raises(SourceUnavailableError, match="sitemap"):
        await fetch_all(web_source(sitemap_url=f"{base}/sitemap.xml"))


async def test_page_limit_marks_the_listing_incomplete(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)

    source = web_source(start_url=f"{base}/docs/", max_pages=2)
    results = await fetch_all(source)

    assert len(results) == 2
    assert not source.listing_complete


async def test_server_errors_are_failures_with_their_status_after_bounded_retries(
    site: tuple[FakeWebsite, str],
) -> None:
    website, base = site
    small_site(website)
    website.page("/docs/faq", html_page("FAQ", "<p>Flaky.</p>"), failures_before_success=1)
    website.page("/docs/guide", html_page("Guide", "<p>Down.</p>"), status=500)

    results = await fetch_all(web_source(start_url=f"{base}/docs/", max_retries=2))

    assert isinstance(results[f"{base}/docs/faq"], SourceDocument)
    assert [request.status for request in website.requested("/docs/faq")] == [503, 200]
    guide = results[f"{base}/docs/guide"]
    assert isinstance(guide, FetchFailure) and guide.reason == "HTTP 500 Internal Server Error"
    assert len(website.requested("/docs/guide")) == 3
    assert isinstance(results[f"{base}/docs/"], SourceDocument)


async def test_redirects_are_followed_once_and_deduplicated(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    website.page("/docs/", html_page("Home", "<p>Hi.</p>", ["old-guide", "guide"]))
    website.page("/docs/old-guide", b"", redirect_to="/docs/guide")
    website.page("/docs/guide", html_page("Guide", "<p>Current.</p>"))

    results = await fetch_all(web_source(start_url=f"{base}/docs/"))

    assert sorted(results) == [f"{base}/docs/", f"{base}/docs/guide"]


async def test_access_rules_match_url_paths(site: tuple[FakeWebsite, str]) -> None:
    website, base = site
    small_site(website)

    source = web_source(
        start_url=f"{base}/docs/",
        access=[{"pattern": "docs/deep/**", "groups": ["engineering"]}],
        default_access={"groups": ["staff"]},
    )
    results = documents(await fetch_all(source))

    assert results[f"{base}/docs/deep/"].access.groups == {"engineering"}
    assert results[f"{base}/docs/faq"].access.groups == {"staff"}


def test_config_needs_a_start_or_sitemap_url() -> None:
    with pytest.raises(ValueError, match="start_url or sitemap_url"):
        WebSourceConfig(name="web")
    with pytest.raises(ValueError, match="absolute http"):
        WebSourceConfig(name="web", start_url="intranet/docs")


def test_default_scope_is_the_start_urls_folder() -> None:
    assert WebSourceConfig(name="w", start_url="https://Docs.Example.com/handbook/index.html").scope().path_prefix == (
        "/handbook/"
    )
    assert WebSourceConfig(name="w", sitemap_url="https://docs.example.com/sitemap.xml").scope().path_prefix == "/"


async def test_robots_txt_wildcards_end_anchors_and_the_longest_match_are_honoured(
    site: tuple[FakeWebsite, str],
) -> None:
    website, base = site
    website.robots_txt = (
        "User-agent: *\nDisallow: /*.pdf$\nDisallow: /docs/private/\nAllow: /docs/private/open\n"
        "Disallow: /docs/*?print\n"
    )
    links = ["policy.pdf", "policy.pdf?download=1", "private/secret", "private/open-plan", "guide?print=1", "old"]
    website.page("/docs/", html_page("Docs home", "<p>Welcome.</p>", links))
    for path in ("/docs/private/secret", "/docs/private/open-plan", "/docs/guide?print=1"):
        website.page(path, html_page(path, "<p>Page.</p>"))
    website.page("/docs/policy.pdf", pdf_bytes(), content_type="application/pdf")
    website.page("/docs/policy.pdf?download=1", pdf_bytes(), content_type="application/pdf")
    website.page("/docs/old", b"", redirect_to="/docs/private/secret")

    results = await fetch_all(web_source(start_url=f"{base}/docs/"))

    assert website.requested("/docs/policy.pdf") == [] and website.requested("/docs/guide?print=1") == []
    assert website.requested("/docs/private/secret") == []
    assert f"{base}/docs/policy.pdf?download=1" in documents(results)
    assert f"{base}/docs/private/open-plan" in documents(results)
    moved = results[f"{base}/docs/old"]
    assert isinstance(moved, FetchFailure) and moved.refused and "robots.txt disallows" in moved.reason


async def test_a_redirect_off_the_site_is_refused_reported_and_never_requested(
    site: tuple[FakeWebsite, str], other_site: tuple[FakeWebsite, str]
) -> None:
    website, base = site
    elsewhere, elsewhere_base = other_site
    website.page("/docs/", html_page("Home", "<p>Hi.</p>", ["moved", "outside"]))
    website.page("/docs/moved", b"", redirect_to=f"{elsewhere_base}/docs/moved")
    website.page("/docs/outside", b"", redirect_to="/blog/post")
    elsewhere.page("/docs/moved", html_page("Elsewhere", "<p>Not this site.</p>"))

    source = web_source(start_url=f"{base}/docs/")
    results = await fetch_all(source)

    for url in (f"{base}/docs/moved", f"{base}/docs/outside"):
        refused = results[url]
        assert isinstance(refused, FetchFailure) and refused.refused
        assert "outside the crawl scope" in refused.reason
    assert elsewhere.requests == [] and website.requested("/blog/post") == []
    assert source.listing_complete


async def test_loopback_is_refused_unless_allow_listed_and_the_refusal_names_the_setting(
    site: tuple[FakeWebsite, str],
) -> None:
    website, base = site
    small_site(website)

    with pytest.raises(SourceUnavailableError) as refused:
        await fetch_all(web_source(start_url=f"{base}/docs/", allowed_networks=[]))

    assert "loopback" in str(refused.value) and "allowed_networks of source 'intranet'" in str(refused.value)
    assert website.requests == []


async def test_a_redirect_to_an_address_not_allow_listed_is_refused_before_connecting(
    site: tuple[FakeWebsite, str], other_site: tuple[FakeWebsite, str]
) -> None:
    website, base = site
    elsewhere, elsewhere_base = other_site
    small_site(website)
    # robots.txt may redirect to another host (RFC 9309), so only the address check stands in the way here.
    website.page("/robots.txt", b"", redirect_to=f"{elsewhere_base}/robots.txt")
    elsewhere.robots_txt = "User-agent: *\nAllow: /\n"

    with pytest.raises(SourceUnavailableError, match="127.0.0.2"):
        await fetch_all(web_source(start_url=f"{base}/docs/", allowed_networks=["127.0.0.1/32"]))

    assert elsewhere.requests == []
    assert website.requested("/docs/") == []


def test_allowed_networks_must_be_networks() -> None:
    with pytest.raises(ValueError, match="allowed_networks"):
        WebSourceConfig(name="web", start_url="https://intranet.example/", allowed_networks=["intranet"])
