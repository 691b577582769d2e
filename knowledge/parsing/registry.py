"""The parser registry: file formats looked up by file extension or HTTP content type."""

from __future__ import annotations

from pathlib import PurePosixPath

from knowledge.errors import UnsupportedDocumentError
from knowledge.parsing.formats import DocumentFormat, ParsedDocument
from knowledge.parsing.html_page import parse_html
from knowledge.parsing.pdf_document import parse_pdf
from knowledge.parsing.plain_text import parse_markdown, parse_plain_text
from knowledge.parsing.word_document import parse_docx

# Add a format by appending it here; sources and their default include patterns follow.
DOCUMENT_FORMATS: list[DocumentFormat] = [
    DocumentFormat("markdown", (".md", ".markdown"), ("text/markdown", "text/x-markdown"), parse_markdown),
    DocumentFormat("text", (".txt", ".text"), ("text/plain",), parse_plain_text),
    DocumentFormat("html", (".html", ".htm"), ("text/html", "application/xhtml+xml"), parse_html),
    DocumentFormat("pdf", (".pdf",), ("application/pdf",), parse_pdf),
    DocumentFormat(
        "docx",
        (".docx",),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        parse_docx,
    ),
]


def supported_extensions() -> list[str]:
    """Every registered extension, e.g. ``[".md", ".markdown", ".txt", ...]``."""
    return [extension for document_format in DOCUMENT_FORMATS for extension in document_format.extensions]


def find_format(name: str | None = None, content_type: str | None = None) -> DocumentFormat | None:
    """The format for a content type (parameters such as ``charset`` ignored), else for the name's extension."""
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        for document_format in DOCUMENT_FORMATS:
            if media_type in document_format.media_types:
                return document_format
    if name:
        suffix = PurePosixPath(name.split("?", 1)[0]).suffix.lower()
        for document_format in DOCUMENT_FORMATS:
            if suffix in document_format.extensions:
                return document_format
    return None


def parse_document(data: bytes, *, name: str | None = None, content_type: str | None = None) -> ParsedDocument:
    """Parse ``data`` with the parser for its content type or file name.

    Raises:
        UnsupportedDocumentError: no parser is registered for it.
        DocumentParseError: the parser could not read it; ``reason`` says why.
    """
    document_format = find_format(name, content_type)
    if document_format is None:
        described = content_type or (PurePosixPath(name).suffix if name else "") or "unknown"
        raise UnsupportedDocumentError(f"unsupported document type {described!r}")
    return document_format.parse(data)
