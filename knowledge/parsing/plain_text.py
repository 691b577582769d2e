"""Markdown and plain text: decoded as UTF-8; plain text keeps its paragraphs and underlined headings."""

from __future__ import annotations

import re

from knowledge.errors import DocumentParseError
from knowledge.parsing.formats import ParsedDocument, first_heading, tidy_markdown

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n(?:---|\.\.\.)\s*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title\s*:\s*(.+?)\s*$", re.MULTILINE)
_SETEXT_UNDERLINE = re.compile(r"^(=+|-+)\s*$")


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8 (a byte-order mark is dropped): guessing an encoding would index mojibake silently."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DocumentParseError(f"not valid UTF-8 text (byte {error.start}); save the file as UTF-8") from error


def parse_markdown(data: bytes) -> ParsedDocument:
    """Markdown stays Markdown; YAML front matter is removed and its ``title`` used."""
    text = decode_utf8(data)
    title = None
    front_matter = _FRONT_MATTER.match(text)
    if front_matter:
        found = _FRONT_MATTER_TITLE.search(front_matter.group(1))
        title = found.group(1).strip("\"'") if found else None
        text = text[front_matter.end() :]
    content = tidy_markdown(text)
    return ParsedDocument(title=title or first_heading(content), content=content)


def _is_capitals_heading(line: str, previous: str, following: str) -> bool:
    """A short line in capitals standing alone between blank lines, the usual heading of plain-text documents."""
    text = line.strip()
    letters = [character for character in text if character.isalpha()]
    return (
        len(letters) >= 3
        and len(text) <= 80
        and text == text.upper()
        and not text.endswith((".", ",", ";"))
        and not previous.strip()
        and not following.strip()
    )


def parse_plain_text(data: bytes) -> ParsedDocument:
    """Plain text with headings marked: ``===`` / ``---`` underlined lines become ``#`` / ``##``, and a standalone
    line in capitals becomes ``#`` when it opens the document, ``##`` elsewhere."""
    lines = decode_utf8(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    output: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        underline = _SETEXT_UNDERLINE.match(following)
        previous = output[-1] if output else ""
        if underline and line.strip() and not previous.strip():
            level = "#" if underline.group(1).startswith("=") else "##"
            output.extend([f"{level} {line.strip()}", ""])
            index += 2
            continue
        if _is_capitals_heading(line, previous, following):
            level = "##" if any(earlier.strip() for earlier in output) else "#"
            output.append(f"{level} {line.strip()}")
            index += 1
            continue
        output.append(line)
        index += 1
    content = tidy_markdown("\n".join(output))
    return ParsedDocument(title=first_heading(content), content=content)
