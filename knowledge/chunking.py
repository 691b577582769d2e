"""Structure-aware chunking of a document's Markdown into retrieval-sized passages.

Retrieval quality depends on chunks that hold one idea with its context: a chunk never spans two sections, blocks
(paragraphs, lists, code blocks, tables, quotes) stay whole when they fit, oversized blocks are split at their own
seams (list items, lines, sentences, words), and consecutive chunks of one section overlap a little so a sentence
cut at a boundary is still found. Each chunk keeps the headings above it and the anchor of the nearest heading (its
explicit ``{#id}``, which the HTML parser writes from the page's own ids, else a GitHub-style slug), so an answer can
cite ``url#anchor``. The text that is embedded and full-text indexed is prefixed with the
document title and heading path, because a passage like "Restart it twice" means nothing without them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowledge.markdown_rewriting import prepare_markdown
from knowledge.parsing.formats import split_heading_id

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


class ChunkingConfig(BaseModel):
    """Chunk size target and overlap, in characters of Markdown body (without the title/heading prefix).

    The defaults suit sentence-embedding models and BM25 alike: about a screen paragraph or two.
    """

    model_config = ConfigDict(frozen=True)

    chunk_chars: int = Field(default=1000, ge=100)
    overlap_chars: int = Field(default=150, ge=0)

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> ChunkingConfig:
        if self.overlap_chars * 2 > self.chunk_chars:
            raise ValueError("overlap_chars must be at most half of chunk_chars")
        return self

    def fingerprint(self) -> str:
        """Part of every document's content hash, so changing the chunking re-chunks documents on the next sync."""
        return f"chunking-v2:{self.chunk_chars}:{self.overlap_chars}"


@dataclass(frozen=True)
class Chunk:
    """One passage of a document."""

    ordinal: int
    # The Markdown shown to readers and to the model.
    text: str
    heading_path: list[str]
    # GitHub-style slug of the nearest heading (unique in the document), or None before the first heading.
    anchor: str | None
    # Title, heading path and text: what is embedded and full-text indexed.
    search_text: str

    def url(self, document_url: str) -> str:
        """The document URL with this chunk's deep link."""
        if not self.anchor:
            return document_url
        return f"{document_url.split('#', 1)[0]}#{self.anchor}"


@dataclass
class _Section:
    heading_path: list[str]
    anchor: str | None
    blocks: list[str] = field(default_factory=list)


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


class _SlugAllocator:
    """Unique slugs within one document, numbered like GitHub does (``setup``, ``setup-1``, ...)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def reserve(self, anchor: str) -> str:
        """An explicit id, kept as written; later slugs avoid it."""
        self._seen.setdefault(anchor, 0)
        return anchor

    def allocate(self, heading: str) -> str:
        base = github_slug(heading) or "section"
        count = self._seen.get(base)
        if count is None:
            self._seen[base] = 0
            return base
        while True:
            count += 1
            candidate = f"{base}-{count}"
            if candidate not in self._seen:
                self._seen[base] = count
                self._seen[candidate] = 0
                return candidate


class MarkdownChunker:
    """Splits Markdown into ``Chunk``s; one instance may be reused for many documents."""

    def __init__(self, config: ChunkingConfig | None = None) -> None:
        self.config = config or ChunkingConfig()
        # Only the block structure is read (block maps, heading text): inline parsing, half of chunking's time,
        # is switched off.
        self._parser = MarkdownIt("commonmark").enable("table").disable(["inline", "text_join"])

    def chunk(self, title: str, markdown: str, document_url: str | None = None) -> list[Chunk]:
        """Chunk one document; an empty document gives no chunks.

        With ``document_url``, template noise is dropped and relative links are resolved against it first
        (``knowledge.markdown_rewriting``), so every link a passage carries works wherever it is read.
        """
        if document_url is not None:
            markdown = prepare_markdown(markdown, document_url)
        chunks: list[Chunk] = []
        for section in self._sections(markdown):
            for text in self._pack(section.blocks):
                chunks.append(
                    Chunk(
                        ordinal=len(chunks),
                        text=text,
                        heading_path=_below_title(title, section.heading_path),
                        anchor=section.anchor,
                        search_text=_search_text(title, section.heading_path, text),
                    )
                )
        return chunks

    def _sections(self, markdown: str) -> list[_Section]:
        """Top-level blocks grouped under the heading path they sit in, each block as its original Markdown."""
        lines = markdown.splitlines()
        tokens = self._parser.parse(markdown)
        slugs = _SlugAllocator()
        stack: list[tuple[int, str]] = []
        sections = [_Section(heading_path=[], anchor=None)]
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.level != 0 or token.nesting == -1 or token.map is None:
                index += 1
                continue
            if token.type == "heading_open":
                depth = int(token.tag[1:])
                inline = tokens[index + 1]
                heading, explicit_id = split_heading_id(inline.content.strip())
                anchor = slugs.reserve(explicit_id) if explicit_id else slugs.allocate(heading)
                while stack and stack[-1][0] >= depth:
                    stack.pop()
                stack.append((depth, heading))
                sections.append(_Section(heading_path=[text for _, text in stack], anchor=anchor))
                index += 3
                continue
            start, end = token.map
            block = "\n".join(lines[start:end]).strip("\n")
            if block.strip() and token.type != "hr":
                sections[-1].blocks.append(block)
            index = _skip_block(tokens, index)
        return [section for section in sections if section.blocks]

    def _pack(self, blocks: list[str]) -> list[str]:
        """Greedy packing of a section's blocks into chunks near the size target, with overlap between them."""
        limit = self.config.chunk_chars
        pieces: list[str] = []
        for block in blocks:
            # Pieces of a split block leave room for the overlap that will precede them.
            pieces.extend([block] if len(block) <= limit else _split_block(block, limit - self.config.overlap_chars))
        chunks: list[str] = []
        current: list[str] = []
        size = 0
        for piece in pieces:
            added = len(piece) + (2 if current else 0)
            if current and size + added > limit:
                chunks.append("\n\n".join(current))
                current = self._overlap(current, limit - len(piece) - 2)
                size = sum(len(part) for part in current) + 2 * max(len(current) - 1, 0)
                added = len(piece) + (2 if current else 0)
            current.append(piece)
            size += added
        if current:
            chunks.append("\n\n".join(current))
        return chunks

    def _overlap(self, previous: list[str], room: int) -> list[str]:
        """The tail of the previous chunk (whole sentences, at most ``overlap_chars``) to start the next one with."""
        budget = min(self.config.overlap_chars, room)
        if budget <= 0:
            return []
        last = previous[-1]
        if last.lstrip().startswith(("```", "~~~", "|", "    ")):
            return []  # repeating half a code block or table confuses more than it helps
        tail: list[str] = []
        used = 0
        for sentence in reversed(_SENTENCE_END.split(last)):
            if used + len(sentence) + 1 > budget:
                break
            tail.insert(0, sentence)
            used += len(sentence) + 1
        return [" ".join(tail)] if tail else []


def _skip_block(tokens: list, index: int) -> int:  # type: ignore[type-arg]
    """Index of the token after the top-level block starting at ``index``."""
    token = tokens[index]
    if token.nesting == 0:
        return index + 1
    depth = 0
    while index < len(tokens):
        depth += tokens[index].nesting if tokens[index].level == 0 else 0
        index += 1
        if depth == 0:
            return index
    return index


def _split_block(block: str, limit: int) -> list[str]:
    """A block that fits is kept whole; a bigger one is cut at the best seam it has."""
    if len(block) <= limit:
        return [block]
    stripped = block.lstrip()
    if stripped.startswith(("```", "~~~")):
        return _split_fenced(block, limit)
    if stripped.startswith("|"):
        return _split_table(block, limit)
    if re.match(r"\s*([-*+]|\d+[.)])\s", block):
        items = re.split(r"\n(?=[-*+] |\d+[.)] )", block)
        if len(items) > 1:
            return _pack_parts(items, limit, "\n")
    if "\n\n" in block:
        return _pack_parts(block.split("\n\n"), limit, "\n\n")
    return _pack_parts(_SENTENCE_END.split(block), limit, " ")


def _split_fenced(block: str, limit: int) -> list[str]:
    """Code split by lines, each piece re-fenced so it still renders as code."""
    lines = block.splitlines()
    fence = lines[0]
    closing = lines[-1] if len(lines) > 1 and lines[-1].strip().startswith(fence.strip()[:3]) else fence.strip()[:3]
    body = lines[1:-1] if closing == lines[-1] else lines[1:]
    room = max(limit - len(fence) - len(closing) - 2, 20)
    return [f"{fence}\n{part}\n{closing}" for part in _pack_parts(body, room, "\n")]


def _split_table(block: str, limit: int) -> list[str]:
    """Rows split into groups, each repeating the header so every piece is a readable table."""
    lines = block.splitlines()
    header = lines[:2]
    header_text = "\n".join(header)
    room = max(limit - len(header_text) - 1, 20)
    return [f"{header_text}\n{part}" for part in _pack_parts(lines[2:], room, "\n")]


def _pack_parts(parts: list[str], limit: int, joiner: str) -> list[str]:
    """Join consecutive parts up to ``limit``; a part still too long is cut at words, then characters."""
    packed: list[str] = []
    current = ""
    for part in parts:
        if len(part) > limit:
            if current:
                packed.append(current)
                current = ""
            packed.extend(_cut_words(part, limit))
            continue
        candidate = f"{current}{joiner}{part}" if current else part
        if len(candidate) > limit:
            packed.append(current)
            current = part
        else:
            current = candidate
    if current:
        packed.append(current)
    return [piece for piece in packed if piece.strip()]


def _cut_words(text: str, limit: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) > limit:
            pieces.append(current)
            current = word
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def _below_title(title: str, heading_path: list[str]) -> list[str]:
    """The heading path without a leading heading that only repeats the title (shown beside it everywhere)."""
    if heading_path and heading_path[0].strip().lower() == title.strip().lower():
        return list(heading_path[1:])
    return list(heading_path)


def _search_text(title: str, heading_path: list[str], text: str) -> str:
    context = [title.strip()] if title.strip() else []
    for heading in heading_path:
        if not context or heading.strip().lower() != context[-1].lower():
            context.append(heading.strip())
    prefix = " > ".join(context)
    return f"{prefix}\n\n{text}" if prefix else text
