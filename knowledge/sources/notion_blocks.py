"""Notion blocks and page properties rendered as Markdown, the form every connector hands the chunker.

Headings, lists (nested through their children), to-dos, toggles (their summary line, then what they hide), code
with its language, quotes, callouts, tables, equations and links keep their structure; child pages and databases
are named (they are documents of their own); files and images keep only their captions. An unknown block type keeps
its rich text, so a new Notion block loses its styling, never its words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Blocks rendered as a list item, with the marker their children are indented under.
_LIST_MARKERS = {"bulleted_list_item": "-", "numbered_list_item": "1.", "toggle": "-"}


def rich_text(items: Any) -> str:
    """Notion rich text as Markdown inline text (code, bold, italic, strikethrough and links kept)."""
    if not isinstance(items, Sequence):
        return ""
    parts = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        text = str(item.get("plain_text") or "")
        if not text:
            continue
        annotations = item.get("annotations") or {}
        if annotations.get("code"):
            text = f"`{text}`"
        if annotations.get("bold"):
            text = f"**{text}**"
        if annotations.get("italic"):
            text = f"*{text}*"
        if annotations.get("strikethrough"):
            text = f"~~{text}~~"
        if item.get("href") and item.get("type") != "mention":
            text = f"[{text}]({item['href']})"
        parts.append(text)
    return "".join(parts)


def render_block(block: Mapping[str, Any], children: Sequence[str]) -> str:
    """One block as Markdown; ``children`` are its child blocks, already rendered (one string each)."""
    kind = str(block.get("type") or "")
    value = block.get(kind) or {}
    text = rich_text(value.get("rich_text"))
    nested = _indented(children)
    if kind.startswith("heading_") and kind[-1].isdigit():
        heading = "#" * min(int(kind[-1]), 6) + " " + text
        return "\n\n".join([heading, *children]) if children else heading  # toggleable heading
    if kind in _LIST_MARKERS:
        return _joined(f"{_LIST_MARKERS[kind]} {text}".rstrip(), nested)
    if kind == "to_do":
        box = "[x]" if value.get("checked") else "[ ]"
        return _joined(f"- {box} {text}".rstrip(), nested)
    if kind == "code":
        language = str(value.get("language") or "")
        language = "" if language == "plain text" else language
        return f"```{language}\n{_plain(value.get('rich_text'))}\n```"
    if kind in ("quote", "callout"):
        body = "\n\n".join([text, *children]) if children else text
        return "\n".join("> " + line if line else ">" for line in body.splitlines())
    if kind == "divider":
        return "---"
    if kind == "equation":
        return f"$${value.get('expression') or ''}$$"
    if kind == "table":
        return _table(children, bool(value.get("has_column_header", True)))
    if kind == "table_row":
        cells = [rich_text(cell).replace("|", "\\|").replace("\n", " ") for cell in value.get("cells") or []]
        return "\t".join(cells)
    if kind == "child_page":
        return f"Subpage: {value.get('title') or 'Untitled'}"
    if kind == "child_database":
        return f"Database: {value.get('title') or 'Untitled'}"
    if kind in ("bookmark", "embed", "link_preview"):
        caption = rich_text(value.get("caption"))
        url = str(value.get("url") or "")
        return f"[{caption or url}]({url})" if url else caption
    if kind in ("image", "file", "pdf", "video", "audio"):
        return rich_text(value.get("caption"))
    # paragraph, synced_block, column_list, column, template and the rest: their text, then their children.
    return "\n\n".join(part for part in [text, *children] if part.strip())


def property_text(value: Mapping[str, Any]) -> str:
    """A database row's property value as text ('' when it has none)."""
    kind = str(value.get("type") or "")
    data = value.get(kind)
    if kind in ("title", "rich_text"):
        return rich_text(data)
    if kind in ("select", "status"):
        return str((data or {}).get("name") or "")
    if kind == "multi_select":
        return ", ".join(str(option.get("name") or "") for option in data or [])
    if kind == "people":
        return ", ".join(str(person.get("name") or person.get("id") or "") for person in data or [])
    if kind == "date":
        if not data:
            return ""
        return str(data.get("start") or "") + (f" to {data['end']}" if data.get("end") else "")
    if kind == "checkbox":
        return "yes" if data else "no"
    if kind in ("number", "url", "email", "phone_number", "created_time", "last_edited_time"):
        return "" if data is None else str(data)
    if kind == "formula":
        inner = data or {}
        found = inner.get(str(inner.get("type") or ""))
        return "" if found is None else str(found.get("start") if isinstance(found, Mapping) else found)
    if kind == "unique_id":
        prefix = (data or {}).get("prefix")
        number = (data or {}).get("number")
        return f"{prefix}-{number}" if prefix else str(number or "")
    if kind in ("created_by", "last_edited_by"):
        return str((data or {}).get("name") or "")
    return ""  # relation, rollup, files: ids or aggregates with no words of their own


def title_of(properties: Mapping[str, Any]) -> str:
    for value in properties.values():
        if isinstance(value, Mapping) and value.get("type") == "title":
            return rich_text(value.get("title")).strip()
    return ""


def _plain(items: Any) -> str:
    return "".join(str(item.get("plain_text") or "") for item in items or [] if isinstance(item, Mapping))


def _indented(children: Sequence[str]) -> str:
    """Children of a list item or toggle, two spaces further in (each already indented relative to itself)."""
    return "\n".join(("  " + line).rstrip() for child in children for line in child.splitlines() if line.strip())


def _joined(line: str, nested: str) -> str:
    return f"{line}\n{nested}" if nested.strip() else line


def _table(rows: Sequence[str], header: bool) -> str:
    cells = [row.split("\t") for row in rows if row]
    if not cells:
        return ""
    width = max(len(row) for row in cells)
    padded = [row + [""] * (width - len(row)) for row in cells]
    if not header:
        padded.insert(0, [""] * width)
    lines = ["| " + " | ".join(padded[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in padded[1:]])
