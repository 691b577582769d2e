"""Chat with Anthropic's Messages API through the ``anthropic`` SDK (it retries 429/5xx, honouring ``Retry-After``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from agents.errors import ModelError
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
from agents.model_gateway.failures import model_failure

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-sonnet-4-5"


class AnthropicChatModel(ChatModel):
    provider = "anthropic"

    def __init__(self, config: ChatModelConfig) -> None:
        self.model = config.model or DEFAULT_MODEL
        self._config = config
        self._endpoint = config.base_url or "https://api.anthropic.com"
        self._client = anthropic.AsyncAnthropic(
            base_url=config.base_url,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

    def _request(
        self,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None,
        max_tokens: int | None,
        temperature: float | None,
    ) -> dict[str, Any]:
        system, turns = _to_anthropic_messages(messages)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": max_tokens or self._config.max_output_tokens,
        }
        if system:
            request["system"] = system
        if temperature is not None:
            request["temperature"] = temperature
        if tools:
            request["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
        return request

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatResponse:
        request = self._request(messages, tools, max_tokens, temperature)
        try:
            message = await self._client.messages.create(**request)
        except anthropic.APIError as error:
            raise _model_error(error, self._endpoint, self._config) from error
        return _response(message)

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        request = self._request(messages, tools, max_tokens, temperature)
        try:
            async with self._client.messages.stream(**request) as stream:
                async for text in stream.text_stream:
                    yield StreamEvent(delta=text)
                final = await stream.get_final_message()
        except anthropic.APIError as error:
            raise _model_error(error, self._endpoint, self._config) from error
        yield StreamEvent(response=_response(final))

    async def check_reachable(self, timeout_seconds: float) -> None:
        try:
            await self._client.with_options(max_retries=0, timeout=timeout_seconds).models.list()
        except anthropic.APIError as error:
            raise _model_error(error, self._endpoint, self._config) from error

    async def aclose(self) -> None:
        await self._client.close()


def _response(message: Any) -> ChatResponse:
    text = "".join(block.text for block in message.content if block.type == "text")
    calls = [
        ToolCall(id=block.id, name=block.name, arguments=dict(block.input or {}))
        for block in message.content
        if block.type == "tool_use"
    ]
    usage = TokenUsage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens)
    logger.debug("model call: %s in=%d out=%d", message.model, usage.input_tokens, usage.output_tokens)
    return ChatResponse(
        text=text, tool_calls=calls, usage=usage, model=message.model, finish_reason=message.stop_reason
    )


def _to_anthropic_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """Map OpenAI-shaped turns: system text goes apart, tool results become ``tool_result`` blocks of a user turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
            if turns and turns[-1]["role"] == "user" and isinstance(turns[-1]["content"], list):
                turns[-1]["content"].append(block)
            else:
                turns.append({"role": "user", "content": [block]})
            continue
        if message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks += [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            ]
            turns.append({"role": "assistant", "content": blocks})
            continue
        turns.append({"role": message.role, "content": message.content})
    return system, turns


def _model_error(error: anthropic.APIError, endpoint: str, config: ChatModelConfig) -> ModelError:
    if isinstance(error, anthropic.APITimeoutError):
        return model_failure("timeout", endpoint=endpoint, config=config)
    if isinstance(error, anthropic.APIConnectionError):
        return model_failure("connection", endpoint=endpoint, config=config)
    if isinstance(error, anthropic.APIStatusError):
        return model_failure("status", endpoint=endpoint, config=config, status=error.status_code, detail=error.message)
    return model_failure("other", endpoint=endpoint, config=config, detail=str(error))
