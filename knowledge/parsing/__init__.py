"""Turning Markdown, plain text, HTML, PDF and Word files into Markdown with structure, one chunker for all."""

from knowledge.parsing.formats import DocumentFormat, ParsedDocument, Parser, title_from_name
from knowledge.parsing.registry import DOCUMENT_FORMATS, find_format, parse_document, supported_extensions

__all__ = [
    "DOCUMENT_FORMATS",
    "DocumentFormat",
    "ParsedDocument",
    "Parser",
    "find_format",
    "parse_document",
    "supported_extensions",
    "title_from_name",
]
