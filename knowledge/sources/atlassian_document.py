"""Atlassian Document Format (ADF, the JSON Jira Cloud returns for descriptions and comments) rendered as Markdown.

Every connector hands the chunker Markdown, so ADF's headings, lists, code blocks, tables and quotes become their
Markdown forms; marks (bold, code, links) keep their meaning; mentions, emoji, dates and status lozenges keep their
text; media (images, files) have no text and are dropped. Unknown node types are rendered through their children,
so a new ADF node loses its styling, never its words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def adf_to_markdown(document: Any) -> str:
    """Markdown of an ADF document; a plain string (Jira Data Center's wiki markup) is returned as it is."""
    if isinstance(document, str):
        return document.strip()
    if not isinstance(document, Mapping):
        return ""
    return "\n\n".join(block for block in _blocks(document.get("content") or [], "") if block.strip()).strip()


def _blocks(nodes: Sequence[Any], indent: str) -> list[str]:
    return [_block(node, indent) for node in nodes if isinstance(node, Mapping)]


def _block(node: Mapping[str, Any], indent: str) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    children = node.get("content") or []
    if kind == "paragraph":
        return indent + _inline(children)
    if kind == "heading":
        level = int(attrs.get("level") or 1)
        return "#" * max(1, min(level, 6)) + " " + _inline(children)
    if kind in ("bulletList", "orderedList"):
        return _list(children, indent, ordered=kind == "orderedList", start=int(attrs.get("order") or 1))
    if kind == "codeBlock":
        language = str(attrs.get("language") or "")
        return f"```{language}\n{_plain(children)}\n```"
    if kind == "blockquote":
        inner = "\n\n".join(_blocks(children, ""))
        return "\n".join("> " + line if line else ">" for line in inner.splitlines())
    if kind == "rule":
        return "---"
    if kind == "table":
        return _table(children)
    if kind in ("mediaSingle", "mediaGroup", "media"):
        return ""
    # panel, expand, layoutSection and the rest: their children carry the words.
    return "\n\n".join(block for block in _blocks(children, indent) if block.strip())


def _list(items: Sequence[Any], indent: str, *, ordered: bool, start: int) -> str:
    lines = []
    for number, item in enumerate(i for i in items if isinstance(i, Mapping)):
        marker = f"{start + number}." if ordered else "-"
        parts = item.get("content") or []
        first, rest = (parts[0], parts[1:]) if parts else ({}, [])
        head = _inline(first.get("content") or []) if first.get("type") == "paragraph" else ""
        if first.get("type") != "paragraph" and first:
            rest = parts
        lines.append(f"{indent}{marker} {head}".rstrip())
        for child in rest:
            if isinstance(child, Mapping):
                lines.append(_block(child, indent + "  "))
    return "\n".join(lines)


def _table(rows: Sequence[Any]) -> str:
    cells = [
        [_cell(cell) for cell in row.get("content") or [] if isinstance(cell, Mapping)]
        for row in rows
        if isinstance(row, Mapping)
    ]
    cells = [row for row in cells if row]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    padded = [row + [""] * (width - len(row)) for row in cells]
    lines = ["| " + " | ".join(padded[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in padded[1:]]
    return "\n".join(lines)


def _cell(cell: Mapping[str, Any]) -> str:
    text = " ".join(block for block in _blocks(cell.get("content") or [], "") if block.strip())
    return text.replace("|", "\\|").replace("\n", " ")


def _inline(nodes: Sequence[Any]) -> str:
    return "".join(_inline_node(node) for node in nodes if isinstance(node, Mapping))


def _inline_node(node: Mapping[str, Any]) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return _marked(str(node.get("text") or ""), node.get("marks") or [])
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        text = str(attrs.get("text") or "")
        return text if text.startswith("@") else "@" + text
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind in ("inlineCard", "blockCard"):
        return str(attrs.get("url") or "")
    if kind == "status":
        return f"[{attrs.get('text') or ''}]"
    if kind == "date":
        return _date(attrs.get("timestamp"))
    return _inline(node.get("content") or [])


def _marked(text: str, marks: Sequence[Any]) -> str:
    for mark in marks:
        if not isinstance(mark, Mapping):
            continue
        kind = mark.get("type")
        if kind == "code":
            text = f"`{text}`"
        elif kind == "strong":
            text = f"**{text}**"
        elif kind == "em":
            text = f"*{text}*"
        elif kind == "strike":
            text = f"~~{text}~~"
        elif kind == "link":
            href = str((mark.get("attrs") or {}).get("href") or "")
            if href:
                text = f"[{text}]({href})"
    return text


def _plain(nodes: Sequence[Any]) -> str:
    return "".join(str(node.get("text") or "") for node in nodes if isinstance(node, Mapping))


def _date(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(int(str(timestamp)) / 1000, UTC).strftime("%Y-%m-%d")
    except ValueError:
        return ""
