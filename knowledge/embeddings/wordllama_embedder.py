"""The offline default: WordLlama static embeddings, shipped inside the PyPI wheel.

No download happens at run time: the weights and tokenizer are loaded from the installed package folder with
downloads disabled. Quality is modest (a static, bag-of-tokens model; see README), which is why retrieval fuses it
with full-text search.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings.abc import Embedder
from knowledge.errors import EmbeddingError

_CONFIG = "l2_supercat"
_DIMENSIONS = 256


class WordLlamaEmbedder(Embedder):
    """WordLlama ``l2_supercat`` at 256 dimensions, normalised to unit length."""

    def __init__(self, batch_size: int = 256) -> None:
        self._batch_size = batch_size
        self._model: Any = None

    @property
    def name(self) -> str:
        return f"wordllama/{_CONFIG}-{_DIMENSIONS}"

    @property
    def dimensions(self) -> int:
        return _DIMENSIONS

    def _load(self) -> Any:
        if self._model is None:
            try:
                import wordllama
                from wordllama import WordLlama

                package_dir = Path(wordllama.__file__).parent
                self._model = WordLlama.load(
                    config=_CONFIG, cache_dir=package_dir, dim=_DIMENSIONS, disable_download=True
                )
            except Exception as error:
                raise EmbeddingError(
                    f"could not load the offline WordLlama embedder from its installed package ({error}); "
                    "reinstall with `pip install --force-reinstall wordllama` or set EMBEDDINGS_PROVIDER=openai"
                ) from error
        return self._model

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = np.asarray(model.embed(texts, norm=True, batch_size=self._batch_size), dtype=np.float32)
        # A text with no known tokens comes back as zeros; leave it at zero rather than dividing by zero.
        return [vector.tolist() for vector in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        # CPU-bound numpy work: keep the event loop free for requests.
        return await asyncio.to_thread(self._embed_sync, texts)
