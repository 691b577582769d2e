"""What a parser returns, and how a file format is described in the parser registry."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from pydantic import BaseModel


class ParsedDocument(BaseModel):
    """A document turned into Markdown (headings, paragraphs, lists, code blocks, tables) and its title.

    ``title`` is ``None`` when the document itself names none; callers fall back to the file name or URL.
    """

    title: str | None
    content: str


Parser = Callable[[bytes], ParsedDocument]


@dataclass(frozen=True)
class DocumentFormat:
    """One file format: the extensions and content types it is recognised by, and the function that parses it."""

    name: str
    extensions: tuple[str, ...]
    media_types: tuple[str, ...]
    parse: Parser


# An explicit heading id as Pandoc, kramdown and MkDocs write it (``## Setup {#install}``). The HTML parser writes a
# heading's ``id`` this way, so a passage's deep link points at the page's real anchor instead of a guessed slug.
_HEADING_ID = re.compile(r"\s*\{#([^\s{}#]+)\}\s*$")


def split_heading_id(heading: str) -> tuple[str, str | None]:
    """A heading's text without a trailing ``{#id}``, and that id (None when the heading has none)."""
    match = _HEADING_ID.search(heading)
    if match is None:
        return heading, None
    return heading[: match.start()], match.group(1)


def title_from_name(name: str) -> str:
    """A readable title from a file name or URL path: ``hr/compensation-bands.md`` -> ``Compensation bands``."""
    stem = PurePosixPath(name.rstrip("/")).stem or name
    words = re.sub(r"[-_]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else name


def tidy_markdown(text: str) -> str:
    """Trailing spaces removed, runs of blank lines collapsed to one, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n" if tidy else ""


def first_heading(markdown: str, *, level_one_only: bool = False) -> str | None:
    """The text of the first ATX heading outside code fences, preferring a level-1 heading."""
    in_fence = False
    first: str | None = None
    for line in markdown.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        match = None if in_fence else re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if match:
            text = split_heading_id(match.group(2))[0]
            if len(match.group(1)) == 1:
                return text
            first = first or text
    return None if level_one_only else first
