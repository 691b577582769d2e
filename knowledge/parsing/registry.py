"""The parser registry: file formats looked up by file extension or HTTP content type."""

from __future__ import annotations

import importlib
from pathlib import PurePosixPath

from knowledge.errors import UnsupportedDocumentError
from knowledge.parsing.formats import DocumentFormat, ParsedDocument, Parser


def _imported_on_first_use(module: str, function: str) -> Parser:
    """A parser whose module (and its library: pypdf, python-docx, ...) loads when a document first needs it,
    so importing knowledge stays fast for commands that never parse."""

    def parse(data: bytes) -> ParsedDocument:
        parser: Parser = getattr(importlib.import_module(module), function)
        return parser(data)

    parse.__qualname__ = parse.__name__ = function
    return parse


# Add a format by appending it here; sources and their default include patterns follow.
DOCUMENT_FORMATS: list[DocumentFormat] = [
    DocumentFormat(
        "markdown",
        (".md", ".markdown"),
        ("text/markdown", "text/x-markdown"),
        _imported_on_first_use("knowledge.parsing.plain_text", "parse_markdown"),
    ),
    DocumentFormat(
        "text",
        (".txt", ".text"),
        ("text/plain",),
        _imported_on_first_use("knowledge.parsing.plain_text", "parse_plain_text"),
    ),
    DocumentFormat(
        "html",
        (".html", ".htm"),
        ("text/html", "application/xhtml+xml"),
        _imported_on_first_use("knowledge.parsing.html_page", "parse_html"),
    ),
    DocumentFormat(
        "pdf", (".pdf",), ("application/pdf",), _imported_on_first_use("knowledge.parsing.pdf_document", "parse_pdf")
    ),
    DocumentFormat(
        "docx",
        (".docx",),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        _imported_on_first_use("knowledge.parsing.word_document", "parse_docx"),
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
