"""Any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp server)."""

from __future__ import annotations

import math

import openai

from knowledge.embeddings.abc import Embedder, EmbeddingsConfig
from knowledge.errors import EmbeddingError


class OpenAIEmbedder(Embedder):
    """Batched calls to ``/embeddings``; the SDK retries 429 and 5xx with back-off and honours ``Retry-After``."""

    def __init__(self, config: EmbeddingsConfig, dimensions: int | None = None) -> None:
        if not config.model:
            raise EmbeddingError("EMBEDDINGS_MODEL is required when EMBEDDINGS_PROVIDER=openai")
        self._config = config
        self._model = config.model
        self._dimensions = dimensions
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key.get_secret_value() if config.api_key else "not-needed",
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

    @property
    def name(self) -> str:
        return f"openai/{self._model}"

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            raise EmbeddingError("the embedding dimension is known only after the first call; call embed() first")
        return self._dimensions

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._config.batch_size):
            batch = texts[start : start + self._config.batch_size]
            try:
                response = await self._client.embeddings.create(model=self._model, input=batch)
            except openai.APIError as error:
                raise EmbeddingError(
                    f"the embedding endpoint {self._config.base_url or 'api.openai.com'} failed: {error}"
                ) from error
            for item in sorted(response.data, key=lambda item: item.index):
                vectors.append(_unit(item.embedding))
        if vectors:
            self._dimensions = len(vectors[0])
        return vectors

    async def aclose(self) -> None:
        await self._client.close()


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector
