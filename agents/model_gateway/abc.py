"""The provider-neutral chat interface: messages, tool specs, responses, and the ``ChatModel`` backends implement."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ChatModelConfig(BaseModel):
    """Which chat model to use and how patiently; built by the service's settings."""

    model_config = ConfigDict(frozen=True)

    provider: Literal["openai", "anthropic", "none"] = "none"
    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    max_output_tokens: int = Field(default=1024, gt=0)


class ToolCall(BaseModel):
    """A call the model asked for; ``arguments`` is already parsed JSON."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(BaseModel):
    """One turn of a conversation, in the OpenAI shape that both providers are mapped from and to."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None


class ToolSpec(BaseModel):
    """What the model is told about a tool: its name, what it is for, and a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class TokenUsage(BaseModel):
    """Tokens one call consumed, as the provider reported them (zero when it did not)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ChatResponse(BaseModel):
    """A finished model turn: its text, the tool calls it asked for, and what it cost."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    model: str = ""
    finish_reason: str | None = None


class StreamEvent(BaseModel):
    """One streamed piece: a text ``delta``, or, last of all, the complete ``response`` with usage."""

    delta: str = ""
    response: ChatResponse | None = None


class ChatModel(ABC):
    """A chat model with tool calling and streaming.

    Implementations retry 429 and 5xx with back-off (honouring ``Retry-After``), enforce a timeout, and raise
    ``ModelUnavailableError`` / ``ModelTimeoutError`` / ``ModelRequestError`` with a readable message when done.
    """

    provider: str
    model: str

    @abstractmethod
    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        """Run one model turn and return it whole."""

    @abstractmethod
    def stream(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Run one model turn, yielding text deltas as they arrive and the whole response last."""

    @abstractmethod
    async def check_reachable(self, timeout_seconds: float) -> None:
        """Make the provider's cheapest authenticated call (list models), once, without retries.

        For health checks: it generates nothing and costs no tokens. Raises ``ModelError`` (with a readable
        reason) when the endpoint cannot be reached or refuses the credentials.
        """

    async def aclose(self) -> None:  # noqa: B027 - a model without connections has nothing to close
        """Close the underlying HTTP client."""
