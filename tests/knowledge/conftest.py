"""Fixtures for the knowledge tests: the offline embedder loaded once per session."""

from __future__ import annotations

import pytest

from knowledge import Embedder
from knowledge.embeddings import WordLlamaEmbedder


@pytest.fixture(scope="session")
def offline_embedder() -> Embedder:
    return WordLlamaEmbedder()
