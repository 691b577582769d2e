"""Word (.docx) via python-docx: heading styles become ``#`` headings, list styles bullets, tables Markdown tables."""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.document import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from knowledge.errors import DocumentParseError
from knowledge.parsing.formats import ParsedDocument, first_heading, tidy_markdown

_HEADING_STYLE = re.compile(r"^Heading\s*(\d)$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^List\s*(Bullet|Number|Paragraph|Continue)?\s*(\d)?$", re.IGNORECASE)
_CODE_STYLE = re.compile(r"code|preformatted|source|macro", re.IGNORECASE)


def _style_name(paragraph: Paragraph) -> str:
    style = paragraph.style
    return style.name if style is not None and style.name else ""


def _list_depth(paragraph: Paragraph) -> int:
    """Nesting level from the paragraph's numbering properties (``w:ilvl``), 0 if none."""
    # python-docx exposes numbering only through the XML element.
    levels: list[str] = paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
    return int(levels[0]) if levels and levels[0].isdigit() else 0


def _has_numbering(paragraph: Paragraph) -> bool:
    properties = paragraph._p.pPr
    return properties is not None and properties.numPr is not None


def _table_markdown(table: Table) -> str:
    rows = [[" ".join(cell.text.split()).replace("|", "\\|") for cell in row.cells] for row in table.rows]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "| " + " | ".join(["---"] * width) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _blocks(document: Document) -> list[str]:
    blocks: list[str] = []
    code: list[str] = []
    list_items: list[str] = []

    def flush() -> None:
        if code:
            blocks.append("```\n" + "\n".join(code) + "\n```")
            code.clear()
        if list_items:
            blocks.append("\n".join(list_items))
            list_items.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            flush()
            blocks.append(_table_markdown(item))
            continue
        style = _style_name(item)
        if _CODE_STYLE.search(style):
            if list_items:
                blocks.append("\n".join(list_items))
                list_items.clear()
            code.append(item.text)
            continue
        text = " ".join(item.text.split())
        if not text:
            continue
        heading = _HEADING_STYLE.match(style)
        list_style = _LIST_STYLE.match(style)
        if list_style or _has_numbering(item):
            if code:
                blocks.append("```\n" + "\n".join(code) + "\n```")
                code.clear()
            depth = max(_list_depth(item), int(list_style.group(2)) - 1 if list_style and list_style.group(2) else 0)
            marker = "1." if list_style and (list_style.group(1) or "").lower() == "number" else "-"
            list_items.append("  " * depth + f"{marker} {text}")
            continue
        flush()
        if heading:
            blocks.append("#" * min(int(heading.group(1)), 6) + " " + text)
        elif style.lower() == "title":
            blocks.append("# " + text)
        else:
            blocks.append(text)
    flush()
    return blocks


def parse_docx(data: bytes) -> ParsedDocument:
    """Paragraphs, headings, lists, code-styled paragraphs and tables in document order; title from core properties."""
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise DocumentParseError(f"not a readable .docx file ({error})") from error
    content = tidy_markdown("\n\n".join(_blocks(document)))
    core_title = (document.core_properties.title or "").strip()
    return ParsedDocument(title=core_title or first_heading(content), content=content)
