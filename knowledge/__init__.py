"""Knowledge: the shared database, the document model, sources, embeddings, and (soon) sync and retrieval."""

from knowledge.database import Base, create_engine, session_factory, sqlalchemy_url
from knowledge.documents import AccessList, Reader, ReaderScope, SourceDocument
from knowledge.embeddings import Embedder, EmbeddingsConfig, create_embedder
from knowledge.errors import (
    DatabaseConfigError,
    DocumentParseError,
    EmbeddingError,
    KnowledgeError,
    SourceConfigError,
    SourceUnavailableError,
    UnsupportedDocumentError,
)
from knowledge.parsing import ParsedDocument, parse_document
from knowledge.passages import Passage, Retriever, SearchQuery
from knowledge.sources import (
    AccessGrant,
    AccessRule,
    FetchFailure,
    FolderSourceConfig,
    KnownDocument,
    Source,
    SourceConfig,
    SourceConfigBase,
    Unchanged,
    WebSourceConfig,
    create_source,
)

__all__ = [
    "Passage",
    "Retriever",
    "SearchQuery",
    "AccessList",
    "Reader",
    "ReaderScope",
    "SourceDocument",
    "Base",
    "DatabaseConfigError",
    "Embedder",
    "EmbeddingError",
    "EmbeddingsConfig",
    "KnowledgeError",
    "create_embedder",
    "create_engine",
    "session_factory",
    "sqlalchemy_url",
    # Parsing and sources
    "AccessGrant",
    "AccessRule",
    "DocumentParseError",
    "FetchFailure",
    "FolderSourceConfig",
    "KnownDocument",
    "ParsedDocument",
    "Source",
    "SourceConfig",
    "SourceConfigBase",
    "SourceConfigError",
    "SourceUnavailableError",
    "Unchanged",
    "UnsupportedDocumentError",
    "WebSourceConfig",
    "create_source",
    "parse_document",
]
