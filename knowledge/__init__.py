"""Knowledge: the shared database, the document model, sources, embeddings, and (soon) sync and retrieval."""

from knowledge.database import Base, create_engine, session_factory, sqlalchemy_url
from knowledge.documents import AccessList, Reader, ReaderScope, SourceDocument
from knowledge.embeddings import Embedder, EmbeddingsConfig, create_embedder
from knowledge.errors import DatabaseConfigError, EmbeddingError, KnowledgeError
from knowledge.passages import Passage, Retriever, SearchQuery

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
]
