"""Errors raised by the knowledge layer; callers at the edges turn them into user-facing messages."""


class KnowledgeError(Exception):
    """Root of every error the knowledge package raises."""


class DatabaseConfigError(KnowledgeError, ValueError):
    """The database URL is not one Switchboard can use."""


class EmbeddingError(KnowledgeError):
    """An embedding model could not be loaded or did not answer."""


class EmbeddingModelMismatch(KnowledgeError):
    """A model name is already registered with another dimension: its stored vectors cannot be trusted."""


# --- Documents and sources (parsing, connectors) ---


class DocumentParseError(KnowledgeError, ValueError):
    """A document's bytes could not be turned into text; ``reason`` is short enough to show in a sync summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedDocumentError(DocumentParseError):
    """No parser is registered for the document's file extension or content type."""


class SourceConfigError(KnowledgeError, ValueError):
    """A ``[[sources]]`` entry names an unknown connector type or cannot be used as written."""


class SourceUnavailableError(KnowledgeError):
    """A whole source could not be listed (a missing folder, an unreachable sitemap); nothing is deleted."""


class BlockedAddressError(KnowledgeError, PermissionError):
    """A URL's host is, or resolves to, an address the network policy refuses (loopback, private, metadata)."""


class SourceAuthError(SourceUnavailableError):
    """A source refused its credentials; the message names the source and the environment variable to check."""


class SourceRateLimitedError(SourceUnavailableError):
    """A source kept answering 429 after every retry allowed; the next run tries again."""
