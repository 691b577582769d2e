"""HTML pages: the main content converted to Markdown; navigation, headers, footers, asides and scripts dropped.

BeautifulSoup + markdownify was measured against trafilatura's Markdown output on documentation-style pages:
trafilatura lost every heading, list and table on a div-based layout (it fell back to plain text) and dropped a
short page's heading, while this keeps headings, nested lists, fenced code with its language and tables.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString
from markdownify import MarkdownConverter

from knowledge.parsing.formats import ParsedDocument, first_heading, tidy_markdown

# Elements that never hold the page's own content.
_DROPPED_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "button",
    "iframe",
    "svg",
    "canvas",
    "dialog",
)
_DROPPED_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
# Class or id words of site chrome, used only when the page marks no main content (a ``<main>`` or ``<article>``).
_CHROME_WORDS = re.compile(
    r"(?:^|[-_\s])(nav|navbar|navigation|menu|sidebar|side-bar|footer|header|masthead|breadcrumbs?|"
    r"cookie|banner|toc|skip-link|pagination)(?:$|[-_\s])",
    re.IGNORECASE,
)
_LANGUAGE_CLASS = re.compile(r"^(?:language|lang)-([\w+#.-]+)$")


class _Converter(MarkdownConverter):
    """markdownify with ATX headings, ``-`` bullets, link text without targets, and header rows for tables."""

    def __init__(self) -> None:
        super().__init__(
            heading_style="ATX",
            bullets="-",
            strip=["a", "img"],
            table_infer_header=True,
            code_language_callback=_code_language,
            escape_underscores=False,
            escape_asterisks=False,
        )


def _code_language(pre: Tag) -> str | None:
    for element in (pre, pre.find("code")):
        if isinstance(element, Tag):
            for css_class in element.get("class") or []:
                match = _LANGUAGE_CLASS.match(css_class)
                if match:
                    return match.group(1)
    return None


def _main_content(soup: BeautifulSoup) -> tuple[Tag, bool]:
    """The element holding the page's own content, and whether the page marked it explicitly."""
    for selector in ("main", "[role=main]"):
        found = soup.select_one(selector)
        if found is not None:
            return found, True
    articles = soup.find_all("article")
    if len(articles) == 1 and isinstance(articles[0], Tag):
        return articles[0], True
    return soup.body or soup, False


def _is_chrome(element: Tag) -> bool:
    if element.attrs is None or element.name in ("html", "body", "main", "article"):
        return False
    words = " ".join([*(element.get("class") or []), str(element.get("id") or "")])
    return bool(words) and _CHROME_WORDS.search(words) is not None


_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_USABLE_ID = re.compile(r"^[^\s{}#]+$")


def _mark_heading_ids(main: Tag) -> None:
    """Write each heading's anchor as ``{#id}`` so chunks link to it: the heading's own id, else an anchor inside it
    (``<h2><a id="setup"></a>Setup</h2>``), else its ``<section id>`` when it opens that section."""
    for heading in main.find_all(_HEADINGS):
        candidates = [heading.get("id")]
        candidates += [inner.get("id") or inner.get("name") for inner in heading.find_all(True)]
        parent = heading.parent
        if isinstance(parent, Tag) and parent.name == "section" and parent.find(_HEADINGS) is heading:
            candidates.append(parent.get("id"))
        anchor = next((str(c) for c in candidates if c and _USABLE_ID.match(str(c))), None)
        if anchor is not None and heading.get_text(strip=True):
            heading.append(NavigableString(f" {{#{anchor}}}"))


def parse_html(data: bytes) -> ParsedDocument:
    """Main content as Markdown; title from its ``<h1>``, else the ``<title>`` element, else another heading."""
    soup = BeautifulSoup(data, "html.parser")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else None
    for element in soup.find_all(_DROPPED_TAGS):
        element.decompose()
    for element in soup.find_all(role=True):
        if str(element.get("role")).lower() in _DROPPED_ROLES:
            element.decompose()
    main, marked = _main_content(soup)
    if not marked:
        for element in main.find_all(_is_chrome):
            if not element.decomposed:
                element.decompose()
    _mark_heading_ids(main)
    content = tidy_markdown(_Converter().convert_soup(main))
    # A page's <h1> names it best; its <title> often carries the site name, but beats a sub-heading.
    title = first_heading(content, level_one_only=True) or page_title or first_heading(content)
    return ParsedDocument(title=title, content=content)
