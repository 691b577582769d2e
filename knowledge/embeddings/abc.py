"""The embedder interface every embedding backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr


class EmbeddingsConfig(BaseModel):
    """Which embedding model to use; built by the service's settings."""

    model_config = ConfigDict(frozen=True)

    provider: Literal["wordllama", "openai"] = "wordllama"
    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    batch_size: int = 256
    timeout_seconds: float = 30.0
    max_retries: int = 3


class Embedder(ABC):
    """Turns texts into unit-length vectors of a fixed dimension.

    ``name`` and ``dimensions`` are recorded with every stored vector, so a model change is detected and triggers a
    re-embed instead of comparing vectors from two different spaces.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """A stable identifier of the model, e.g. ``wordllama/l2_supercat-256``."""

    @property
    @abstractmethod
    def dimensions(self) -> int:
        """Length of every vector this embedder returns."""

    @abstractmethod
    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` in order; an empty list gives an empty list."""

    async def warm_up(self) -> None:  # noqa: B027 - a remote model has nothing to load here
        """Load what the first ``embed`` would otherwise load, so no question waits for it."""

    async def aclose(self) -> None:  # noqa: B027 - most embedders hold nothing to release
        """Release network clients or other resources."""
