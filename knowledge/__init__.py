"""Knowledge: the shared database, the document model, sources, embeddings, chunking, sync and hybrid retrieval."""

from knowledge.advisory_locks import (
    SCHEMA_LOCK_KEY,
    TRY_SCHEMA_LOCK_SQL,
    UNLOCK_SCHEMA_SQL,
    acquire_advisory_lock,
    acquire_advisory_lock_blocking,
    holding_schema_lock,
)
from knowledge.backend_priority import BackendPriority
from knowledge.chunking import Chunk, ChunkingConfig, MarkdownChunker, github_slug
from knowledge.cited_documents import (
    CitedDocument,
    cited_documents_by_id,
    find_cited_documents,
    lexeme_weights,
    text_lexemes,
)
from knowledge.database import Base, create_engine, session_factory, sqlalchemy_url
from knowledge.documents import AccessList, Reader, ReaderScope, SourceDocument
from knowledge.embeddings import Embedder, EmbeddingsConfig, create_embedder
from knowledge.errors import (
    BlockedAddressError,
    DatabaseConfigError,
    DocumentParseError,
    EmbeddingError,
    EmbeddingModelMismatch,
    KnowledgeError,
    SourceAuthError,
    SourceConfigError,
    SourceUnavailableError,
    UnsupportedDocumentError,
)
from knowledge.hybrid_search import HybridRetriever, RetrievalConfig
from knowledge.index_maintenance import vacuum_index
from knowledge.network_policy import NetworkPolicy, guarded_transport, permitted_addresses
from knowledge.parsing import ParsedDocument, parse_document
from knowledge.passages import Passage, PassageCopy, Retriever, SearchQuery
from knowledge.permission_sync import PermissionSyncSummary, sync_permissions, with_external_groups
from knowledge.sources import (
    AccessGrant,
    AccessRule,
    FetchFailure,
    FolderSourceConfig,
    KnownDocument,
    PermissionedSource,
    Source,
    SourceConfig,
    SourceConfigBase,
    SourceSecrets,
    Unchanged,
    WebSourceConfig,
    create_source,
)
from knowledge.sync import SyncEngine, sync_source
from knowledge.sync_models import (
    DocumentFailure,
    KnowledgeStatus,
    ProgressCallback,
    SourceStatus,
    SyncConfig,
    SyncProgress,
    SyncRunRecord,
    SyncSummary,
)
from knowledge.sync_status import knowledge_status, recent_sync_runs

__all__ = [
    "BackendPriority",
    "BlockedAddressError",
    "NetworkPolicy",
    "guarded_transport",
    "permitted_addresses",
    "Passage",
    "PassageCopy",
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
    "EmbeddingModelMismatch",
    "EmbeddingsConfig",
    "KnowledgeError",
    "create_embedder",
    "create_engine",
    "session_factory",
    "sqlalchemy_url",
    # Schema changes, from any layer
    "SCHEMA_LOCK_KEY",
    "TRY_SCHEMA_LOCK_SQL",
    "UNLOCK_SCHEMA_SQL",
    "acquire_advisory_lock",
    "acquire_advisory_lock_blocking",
    "holding_schema_lock",
    # Parsing and sources
    "AccessGrant",
    "AccessRule",
    "PermissionedSource",
    "SourceSecrets",
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
    "Chunk",
    "ChunkingConfig",
    "MarkdownChunker",
    "github_slug",
    "HybridRetriever",
    "RetrievalConfig",
    "SyncEngine",
    "sync_source",
    "PermissionSyncSummary",
    "SourceAuthError",
    "sync_permissions",
    "with_external_groups",
    "DocumentFailure",
    "KnowledgeStatus",
    "ProgressCallback",
    "SourceStatus",
    "SyncConfig",
    "SyncProgress",
    "SyncRunRecord",
    "SyncSummary",
    "knowledge_status",
    "recent_sync_runs",
    "vacuum_index",
    # What curated answers cite and how questions are matched lexically
    "CitedDocument",
    "cited_documents_by_id",
    "find_cited_documents",
    "lexeme_weights",
    "text_lexemes",
]
