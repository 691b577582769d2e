"""Embedding backends behind one interface, chosen by name from a registry."""

from __future__ import annotations

from collections.abc import Callable

from knowledge.embeddings.abc import Embedder, EmbeddingsConfig
from knowledge.embeddings.openai_embedder import OpenAIEmbedder
from knowledge.embeddings.wordllama_embedder import WordLlamaEmbedder

EMBEDDER_FACTORIES: dict[str, Callable[[EmbeddingsConfig], Embedder]] = {
    "wordllama": lambda config: WordLlamaEmbedder(batch_size=config.batch_size),
    "openai": OpenAIEmbedder,
}


def create_embedder(config: EmbeddingsConfig) -> Embedder:
    """Build the embedder ``config`` names; add a backend by adding it to ``EMBEDDER_FACTORIES``."""
    return EMBEDDER_FACTORIES[config.provider](config)


__all__ = [
    "EMBEDDER_FACTORIES",
    "Embedder",
    "EmbeddingsConfig",
    "OpenAIEmbedder",
    "WordLlamaEmbedder",
    "create_embedder",
]
