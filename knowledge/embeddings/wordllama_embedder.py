"""The offline default: WordLlama static embeddings, shipped inside the PyPI wheel.

No download happens at run time: the weights and tokenizer are loaded from the installed package folder with
downloads disabled. Quality is modest (a static, bag-of-tokens model; see README), which is why retrieval fuses it
with full-text search. The vectors are WordLlama's own (the mean of the text's token vectors, normalised), pooled
through a table of per-word sums (``wordllama_pieces``) rather than by WordLlama's ``embed``, which is several times
slower.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings.abc import Embedder
from knowledge.embeddings.wordllama_pieces import PieceTable
from knowledge.errors import EmbeddingError

_CONFIG = "l2_supercat"
_DIMENSIONS = 256


def load_model() -> Any:
    """WordLlama's model object, from the installed package's own files (never downloaded)."""
    try:
        import wordllama
        from wordllama import WordLlama

        package_dir = Path(wordllama.__file__).parent
        return WordLlama.load(config=_CONFIG, cache_dir=package_dir, dim=_DIMENSIONS, disable_download=True)
    except Exception as error:
        raise EmbeddingError(
            f"could not load the offline WordLlama embedder from its installed package ({error}); "
            "reinstall with `pip install --force-reinstall wordllama` or set EMBEDDINGS_PROVIDER=openai"
        ) from error


class WordLlamaEmbedder(Embedder):
    """WordLlama ``l2_supercat`` at 256 dimensions, normalised to unit length."""

    def __init__(self, batch_size: int = 256) -> None:
        self._batch_size = batch_size
        self._pieces: PieceTable | None = None

    @property
    def name(self) -> str:
        return f"wordllama/{_CONFIG}-{_DIMENSIONS}"

    @property
    def dimensions(self) -> int:
        return _DIMENSIONS

    def _load(self) -> PieceTable:
        if self._pieces is None:
            self._pieces = PieceTable(load_model())
        return self._pieces

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        pieces = self._load()
        vectors = np.concatenate(
            [
                pieces.mean_vectors(texts[start : start + self._batch_size])
                for start in range(0, len(texts), self._batch_size)
            ]
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # An empty text has no tokens: leave its vector at zero rather than dividing by zero.
        vectors /= np.where(norms == 0, 1.0, norms)
        return [vector.tolist() for vector in vectors]

    async def warm_up(self) -> None:
        # The model and its word table take about 3 s of CPU to load (bench/RESULTS.md, "Slack acknowledgements").
        await asyncio.to_thread(self._load)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        # CPU-bound numpy work: keep the event loop free for requests.
        return await asyncio.to_thread(self._embed_sync, texts)
