"""Knowledge sources (connectors) and the protocol they share."""

from knowledge.sources.abc import FetchFailure, FetchResult, KnownDocument, Source, Unchanged

__all__ = ["FetchFailure", "FetchResult", "KnownDocument", "Source", "Unchanged"]
