"""PDF: page text via pypdf, regrouped into paragraphs, with lines set larger than the body text as headings.

PDF has no paragraphs or headings, only positioned text runs. pypdf reports each run's font size and position, so
lines are rebuilt, a vertical gap wider than the usual line spacing starts a new paragraph, and short lines in a
font clearly larger than the body's become headings (the largest size ``#``, the next ``##``, then ``###``).
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from dataclasses import dataclass, field

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from knowledge.errors import DocumentParseError
from knowledge.parsing.formats import ParsedDocument, first_heading, tidy_markdown

logger = logging.getLogger(__name__)

_HEADING_SIZE_RATIO = 1.15
_HEADING_MAX_CHARS = 120


@dataclass
class _Line:
    text: str = ""
    size: float = 0.0
    y: float | None = None
    sizes: Counter[float] = field(default_factory=Counter)


def _page_lines(page: object) -> list[_Line]:
    lines: list[_Line] = [_Line()]

    def visit(text: str, cm: list[float], tm: list[float], font: object, font_size: float) -> None:
        size = round(abs(font_size * (cm[3] or 1.0)), 1)
        parts = text.split("\n")
        for number, part in enumerate(parts):
            if number:
                lines.append(_Line())
            if part.strip():
                line = lines[-1]
                line.text += part
                line.sizes[size] += len(part.strip())
                if line.y is None:
                    line.y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]

    page.extract_text(visitor_text=visit)  # type: ignore[attr-defined]
    result = []
    for line in lines:
        line.text = " ".join(line.text.split())
        if line.text:
            line.size = line.sizes.most_common(1)[0][0]
            result.append(line)
    return result


def _to_markdown(pages: list[list[_Line]]) -> str:
    body_sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            body_sizes.update(line.sizes)
    if not body_sizes:
        return ""
    body = body_sizes.most_common(1)[0][0]
    heading_sizes = sorted(
        {line.size for lines in pages for line in lines if line.size >= body * _HEADING_SIZE_RATIO}, reverse=True
    )
    level = {size: min(number + 1, 3) for number, size in enumerate(heading_sizes)}

    blocks: list[str] = []
    for lines in pages:
        gaps = [
            abs(previous.y - line.y)
            for previous, line in zip(lines, lines[1:], strict=False)
            if previous.y is not None and line.y is not None and previous.y != line.y
        ]
        spacing = Counter(round(gap, 0) for gap in gaps).most_common(1)[0][0] if gaps else 0.0
        paragraph: list[str] = []
        previous_line: _Line | None = None
        for line in lines:
            if line.size in level and len(line.text) <= _HEADING_MAX_CHARS:
                if paragraph:
                    blocks.append(" ".join(paragraph))
                    paragraph = []
                blocks.append("#" * level[line.size] + " " + line.text)
                previous_line = None
                continue
            wide_gap = (
                previous_line is not None
                and previous_line.y is not None
                and line.y is not None
                and spacing > 0
                and abs(previous_line.y - line.y) > spacing * 1.4
            )
            if wide_gap and paragraph:
                blocks.append(" ".join(paragraph))
                paragraph = []
            paragraph.append(line.text)
            previous_line = line
        if paragraph:
            blocks.append(" ".join(paragraph))
    return "\n\n".join(blocks)


def parse_pdf(data: bytes) -> ParsedDocument:
    """Text of every page as Markdown paragraphs and headings; title from the PDF's metadata, else a heading."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as error:
                raise DocumentParseError(f"encrypted PDF that cannot be opened here ({error})") from error
            if not opened:
                raise DocumentParseError("encrypted PDF: it needs a password; store an unprotected copy")
        pages = [_page_lines(page) for page in reader.pages]
        metadata_title = reader.metadata.title if reader.metadata else None
    except DocumentParseError:
        raise
    except FileNotDecryptedError as error:
        raise DocumentParseError("encrypted PDF: it needs a password; store an unprotected copy") from error
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise DocumentParseError(f"not a readable PDF ({error})") from error
    content = tidy_markdown(_to_markdown(pages))
    if not content.strip():
        raise DocumentParseError("PDF has no extractable text (a scanned image? run OCR first)")
    title = metadata_title.strip() if isinstance(metadata_title, str) and metadata_title.strip() else None
    return ParsedDocument(title=title or first_heading(content), content=content)
