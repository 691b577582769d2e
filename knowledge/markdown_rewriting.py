"""Rewrites a document's Markdown before it is chunked, so passages read well wherever they are shown.

A passage is read far from its page: in Slack, on a phone, inside a model's context. Two things a page gets away
with break there, and both are fixed once, when the document is indexed:

* **Relative links** (``[budget](spending-company-money.md#recurring)``, ``[above](#setup)``, ``href="../x.md"``)
  are resolved against the document's own URL, so every link a passage carries is absolute; a link to one of the
  document's own headings becomes a deep link into it.
* **Template noise** that a site generator would have rendered away never reaches a passage: Liquid/Jinja tags
  (``{% ... %}``, ``{{ ... }}``, with ``{% comment %}`` blocks dropped whole), HTML comments and MDX
  ``import``/``export`` lines.

Code is never touched: fenced and indented code blocks and inline code spans are kept as written (a code sample
may well contain ``{{ }}``, ``<!-- -->`` or ``import``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin

from markdown_it import MarkdownIt

# Only code blocks are looked for, so inline parsing (most of a parse's time) is switched off.
_PARSER = MarkdownIt("commonmark").disable(["inline", "text_join"])
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_LIQUID_COMMENT = re.compile(r"\{%-?\s*comment\s*-?%\}.*?(?:\{%-?\s*endcomment\s*-?%\}|\Z)", re.DOTALL)
_TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
# MDX module lines: ``import X from 'y'``, ``import 'y'``, ``export const meta = ...``.
_MDX_MODULE_LINE = re.compile(
    r"^(?:import\s+(?:[\w*{}\s,]+\s+from\s+)?['\"][^'\"]+['\"];?|export\s+(?:const|let|var|default|function)\b.*)$"
)

# ``](destination)`` or ``](<destination> "title")`` of an inline link or image.
_INLINE_LINK = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s()<>]+)")
# ``[label]: destination`` reference definitions.
_REFERENCE_DEFINITION = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)(<[^>\n]*>|\S+)", re.MULTILINE)
_HTML_URL_ATTRIBUTE = re.compile(r"(\b(?:href|src)\s*=\s*)([\"'])(.*?)\2", re.IGNORECASE)
# A URL scheme (``https:``, ``mailto:``, ``tel:``...): such a destination is absolute already.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prepare_markdown(markdown: str, document_url: str) -> str:
    """The Markdown a document's passages are cut from: template noise dropped, links made absolute."""
    return _rewrite_prose(markdown, lambda prose: resolve_links(strip_template_noise(prose), document_url))


def strip_template_noise(prose: str) -> str:
    """Liquid/Jinja tags, HTML comments and MDX module lines removed from prose (no code in it)."""
    prose = _HTML_COMMENT.sub("", prose)
    prose = _LIQUID_COMMENT.sub("", prose)
    prose = _TEMPLATE_TAG.sub("", prose)
    return "\n".join(line for line in prose.split("\n") if not _MDX_MODULE_LINE.match(line.strip()))


def resolve_links(prose: str, document_url: str) -> str:
    """Every link destination in prose made absolute against ``document_url``."""

    def inline(match: re.Match[str]) -> str:
        return match.group(1) + _absolute_destination(match.group(2), document_url)

    def attribute(match: re.Match[str]) -> str:
        quote = match.group(2)
        return f"{match.group(1)}{quote}{absolute_url(match.group(3), document_url)}{quote}"

    prose = _INLINE_LINK.sub(inline, prose)
    prose = _REFERENCE_DEFINITION.sub(inline, prose)
    return _HTML_URL_ATTRIBUTE.sub(attribute, prose)


def absolute_url(destination: str, document_url: str) -> str:
    """A link destination as an absolute URL: ``#heading`` becomes a deep link into the document itself."""
    destination = destination.strip()
    if not destination or _SCHEME.match(destination):
        return destination
    if destination.startswith("#"):
        return document_url.split("#", 1)[0] + destination
    return urljoin(document_url, destination)


def _absolute_destination(destination: str, document_url: str) -> str:
    if destination.startswith("<") and destination.endswith(">"):
        return f"<{absolute_url(destination[1:-1], document_url)}>"
    return absolute_url(destination, document_url)


def _rewrite_prose(markdown: str, rewrite: Callable[[str], str]) -> str:
    """Apply ``rewrite`` to the prose of ``markdown``, leaving code blocks and inline code spans as they are.

    Code blocks are found by a CommonMark parser rather than by pattern, so indented list content is prose and a
    fence inside an HTML comment is part of the comment.
    """
    lines = markdown.split("\n")
    code_ranges = sorted(
        (token.map[0], token.map[1])
        for token in _PARSER.parse(markdown)
        if token.type in ("fence", "code_block") and token.map is not None
    )
    parts: list[str] = []
    position = 0
    for start, end in code_ranges:
        if start < position:
            continue
        if start > position:
            parts.append(_rewrite_outside_code_spans("\n".join(lines[position:start]), rewrite))
        parts.append("\n".join(lines[start:end]))
        position = end
    if position < len(lines):
        parts.append(_rewrite_outside_code_spans("\n".join(lines[position:]), rewrite))
    return "\n".join(parts)


def _rewrite_outside_code_spans(prose: str, rewrite: Callable[[str], str]) -> str:
    """Inline code spans are swapped for placeholders while ``rewrite`` runs, then put back."""
    spans: list[str] = []

    def hide(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\x00{len(spans) - 1}\x00"

    rewritten = rewrite(_CODE_SPAN.sub(hide, prose))
    return re.sub(r"\x00(\d+)\x00", lambda match: spans[int(match.group(1))], rewritten)
