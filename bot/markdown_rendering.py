"""The one place text becomes what the bot writes: Slack mrkdwn with untrusted text escaped, or plain speech.

Model answers, document titles, tool results and error reasons are hostile: in Slack, ``<!channel>``,
``<!here>``, ``<@U123>``, ``<!subteam^S1>`` and ``<https://evil.example|https://trusted.example>`` are live markup.
So every piece of such text is escaped (``&``, ``<``, ``>``), and the only live links are the ones the bot makes
itself with ``mrkdwn_link`` (the sources it cites). The model's Markdown is parsed once with markdown-it-py (raw
HTML off) and rendered from the syntax tree:

- bold, italics, strikethrough, inline code and code blocks become their mrkdwn forms; headings become bold
  lines; lists become ``•`` / ``1.`` lines; tables become rows of cells joined by ``|``; quotes keep ``>``;
- a Markdown link is live only when its URL is one of ``own_links`` (a source of this answer); any other link is
  shown as its words followed by the URL in brackets, so what a reader sees is where it goes; an autolink
  (``<https://…>``) is shown as its URL, and an image as its alt text;
- for a streamed answer (``markdown_for_stream``, Slack's streaming methods take standard Markdown): the model's
  emphasis, lists and code stay, while every character that could start a link, an image, raw HTML or Slack
  markup (``[ ] ( ) < > & ! @ \\``) is backslash-escaped, so each piece is safe on its own, whatever comes next;
- for the phone (``markdown_to_plain_lines``): link words without URLs, image alt text, no code blocks, no markup,
  one line per paragraph, heading, list item or table row.
"""

from __future__ import annotations

from collections.abc import Collection

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])
_FENCE = "```"
# A look-alike of the backtick, so code cannot close the code span or block it is shown in.
_BACKTICK_STAND_IN = "ˋ"
HORIZONTAL_RULE = "──────────"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as markup (``&``, ``<``, ``>``): mentions and links go inert."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_STREAM_ESCAPES = {ord(c): f"\\{c}" for c in "\\[]()<>&!@"}


def markdown_for_stream(piece: str) -> str:
    """A piece of a model's Markdown as a streamed answer shows it: inert links, mentions and HTML; per character,
    so pieces can be cut anywhere and escaped one by one."""
    return piece.translate(_STREAM_ESCAPES)


def mrkdwn_link(url: str, title: str) -> str:
    """A live link the bot itself makes (a cited source); ``|`` and ``>`` in the title would end it early."""
    label = escape_mrkdwn(title).replace("|", "¦")
    return f"<{url.replace('>', '%3E').replace('|', '%7C').replace('<', '%3C')}|{label}>"


def parse_markdown(markdown: str) -> SyntaxTreeNode:
    """The syntax tree of ``markdown`` (CommonMark with tables and strikethrough; raw HTML stays text)."""
    return SyntaxTreeNode(_PARSER.parse(markdown))


def has_table(markdown: str) -> bool:
    """Whether ``markdown`` holds a table (which Slack's ``markdown`` block draws as one, and mrkdwn cannot)."""
    return any(node.type == "table" for node in parse_markdown(markdown).walk())


def markdown_to_mrkdwn(markdown: str, *, own_links: Collection[str] = ()) -> str:
    """Slack mrkdwn for Markdown from a model or a document; live links only to URLs in ``own_links``."""
    return _MrkdwnRenderer(frozenset(own_links)).blocks(parse_markdown(markdown))


def markdown_to_plain_lines(markdown: str) -> list[str]:
    """Markdown's words without markup, links' URLs or code blocks: one line per paragraph, heading, item or row."""
    lines: list[str] = []
    _plain_blocks(parse_markdown(markdown), lines)
    return [line for line in (" ".join(line.split()) for line in lines) if line]


class _MrkdwnRenderer:
    def __init__(self, own_links: frozenset[str]) -> None:
        self.own_links = own_links

    def blocks(self, node: SyntaxTreeNode, separator: str = "\n\n") -> str:
        rendered = (self.block(child) for child in node.children)
        return separator.join(piece for piece in rendered if piece)

    def block(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "paragraph":
            return self.inline_of(node)
        if kind == "heading":
            words = _plain_inline(node).strip()
            return f"*{escape_mrkdwn(words)}*" if words else ""
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node)
        if kind == "blockquote":
            return "\n".join(f"> {line}" if line else ">" for line in self.blocks(node).splitlines())
        if kind in ("fence", "code_block"):
            code = node.content.rstrip("\n").replace(_FENCE, _BACKTICK_STAND_IN * 3)
            return f"{_FENCE}\n{escape_mrkdwn(code)}\n{_FENCE}"
        if kind == "hr":
            return HORIZONTAL_RULE
        if kind == "table":
            return "\n".join(self.table_row(row) for row in _table_rows(node))
        if kind == "inline":
            return self.inline(node)
        # Anything else the parser may add later: its words, escaped, never its markup.
        return escape_mrkdwn(_plain_inline(node))

    def list(self, node: SyntaxTreeNode) -> str:
        start = int(str(node.attrs.get("start", 1))) if node.type == "ordered_list" else 1
        lines: list[str] = []
        for number, item in enumerate(node.children, start):
            marker = f"{number}. " if node.type == "ordered_list" else "• "
            content = self.blocks(item, separator="\n").splitlines() or [""]
            lines.append(marker + content[0])
            lines += ["    " + line for line in content[1:]]
        return "\n".join(lines)

    def table_row(self, row: SyntaxTreeNode) -> str:
        cells = [self.inline_of(cell) for cell in row.children]
        if row.parent is not None and row.parent.type == "thead":
            cells = [f"*{cell}*" if cell else cell for cell in cells]
        return " | ".join(cells)

    def inline_of(self, node: SyntaxTreeNode) -> str:
        return "".join(self.inline(child) for child in node.children)

    def inline(self, node: SyntaxTreeNode) -> str:
        kind = node.type
        if kind == "text":
            return escape_mrkdwn(node.content)
        if kind in ("softbreak", "hardbreak"):
            return "\n"
        if kind == "code_inline":
            return f"`{escape_mrkdwn(node.content.replace('`', _BACKTICK_STAND_IN))}`"
        if kind in ("strong", "em", "s"):
            inner = self.inline_of(node)
            mark = {"strong": "*", "em": "_", "s": "~"}[kind]
            return f"{mark}{inner}{mark}" if inner.strip() else inner
        if kind == "link":
            return self.link(node)
        if kind == "image":
            return escape_mrkdwn(_plain_inline(node))
        return self.inline_of(node) if node.children else escape_mrkdwn(node.content)

    def link(self, node: SyntaxTreeNode) -> str:
        url = str(node.attrs.get("href", ""))
        words = _plain_inline(node).strip()
        if url in self.own_links:
            return mrkdwn_link(url, words or url)
        if node.markup == "autolink":
            return escape_mrkdwn("".join(child.content for child in node.children) or url)
        shown = self.inline_of(node)
        if not url or words in (url, ""):
            return shown or escape_mrkdwn(url)
        return f"{shown} ({escape_mrkdwn(url)})"


def _plain_inline(node: SyntaxTreeNode) -> str:
    """The words of an inline run: text, code content, link words and image alt text; no markup, no URLs."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    if node.type == "image" and not node.children:
        return str(node.attrs.get("alt", ""))
    if node.type == "link" and node.markup == "autolink":
        return ""
    return "".join(_plain_inline(child) for child in node.children)


def _table_rows(table: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [row for section in table.children for row in section.children]


def _plain_blocks(node: SyntaxTreeNode, lines: list[str]) -> None:
    for child in node.children:
        if child.type in ("paragraph", "heading"):
            lines.append(_plain_inline(child))
        elif child.type in ("fence", "code_block", "hr"):
            continue
        elif child.type == "table":
            lines += [", ".join(_plain_inline(cell).strip() for cell in row.children) for row in _table_rows(child)]
        elif child.type == "inline":
            lines.append(_plain_inline(child))
        else:
            _plain_blocks(child, lines)
