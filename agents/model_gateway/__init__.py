"""One chat interface over OpenAI-compatible servers and Anthropic, chosen by name from a registry."""

from __future__ import annotations

from collections.abc import Callable

from agents.model_gateway.abc import (
    ChatMessage,
    ChatModel,
    ChatModelConfig,
    ChatResponse,
    StreamEvent,
    TokenUsage,
    ToolCall,
    ToolSpec,
)
from agents.model_gateway.anthropic_chat import AnthropicChatModel
from agents.model_gateway.openai_chat import OpenAIChatModel

CHAT_MODEL_FACTORIES: dict[str, Callable[[ChatModelConfig], ChatModel]] = {
    "openai": OpenAIChatModel,
    "anthropic": AnthropicChatModel,
}


def create_chat_model(config: ChatModelConfig) -> ChatModel | None:
    """Build the configured chat model, or ``None`` in retrieval-only mode (``provider="none"``)."""
    if config.provider == "none":
        return None
    return CHAT_MODEL_FACTORIES[config.provider](config)


__all__ = [
    "CHAT_MODEL_FACTORIES",
    "AnthropicChatModel",
    "ChatMessage",
    "ChatModel",
    "ChatModelConfig",
    "ChatResponse",
    "OpenAIChatModel",
    "StreamEvent",
    "TokenUsage",
    "ToolCall",
    "ToolSpec",
    "create_chat_model",
]
