"""Errors raised by the knowledge layer; callers at the edges turn them into user-facing messages."""


class KnowledgeError(Exception):
    """Root of every error the knowledge package raises."""


class DatabaseConfigError(KnowledgeError, ValueError):
    """The database URL is not one Switchboard can use."""


class EmbeddingError(KnowledgeError):
    """An embedding model could not be loaded or did not answer."""


class EmbeddingModelMismatch(KnowledgeError):
    """A model name is already registered with another dimension: its stored vectors cannot be trusted."""
