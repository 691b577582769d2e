"""Chat over any OpenAI-compatible server (OpenAI, Azure, vLLM, Ollama, llama.cpp server) with the ``openai`` SDK.

The SDK already retries 408/409/429/5xx and connection errors with exponential back-off and honours
``Retry-After`` / ``retry-after-ms``; this module maps messages and errors, and captures token usage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import openai

from agents.errors import ModelError, ModelUnavailableError
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

DEFAULT_MODEL = "gpt-4o-mini"


class OpenAIChatModel(ChatModel):
    provider = "openai"

    def __init__(self, config: ChatModelConfig) -> None:
        self.model = config.model or DEFAULT_MODEL
        self._config = config
        self._endpoint = config.base_url or "https://api.openai.com/v1"
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            # Local servers (vLLM, Ollama, llama.cpp) need no key, but the SDK insists on one.
            api_key=config.api_key.get_secret_value() if config.api_key else "not-needed",
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
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [_to_openai_message(message) for message in messages],
            "max_tokens": max_tokens or self._config.max_output_tokens,
        }
        if temperature is not None:
            request["temperature"] = temperature
        if tools:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
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
            completion = await self._client.chat.completions.create(**request)
        except openai.APIError as error:
            raise _model_error(error, self._endpoint, self._config) from error
        if not completion.choices:
            raise ModelUnavailableError(f"the model at {self._endpoint} returned no choices")
        choice = completion.choices[0]
        usage = _usage(completion.usage)
        logger.debug("model call: %s in=%d out=%d", self.model, usage.input_tokens, usage.output_tokens)
        return ChatResponse(
            text=choice.message.content or "",
            tool_calls=[
                ToolCall(id=call.id, name=call.function.name, arguments=_parse_arguments(call.function.arguments))
                for call in choice.message.tool_calls or []
                if call.type == "function"
            ],
            usage=usage,
            model=completion.model or self.model,
            finish_reason=choice.finish_reason,
        )

    async def stream(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        request = self._request(messages, tools, max_tokens, temperature)
        text_parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = TokenUsage()
        finish_reason: str | None = None
        model = self.model
        try:
            chunks = await self._client.chat.completions.create(
                **request, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in chunks:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices:
                    finish_reason = choice.finish_reason or finish_reason
                    delta = choice.delta
                    if delta.content:
                        text_parts.append(delta.content)
                        yield StreamEvent(delta=delta.content)
                    for call in delta.tool_calls or []:
                        entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        entry["id"] = call.id or entry["id"]
                        if call.function is not None:
                            entry["name"] += call.function.name or ""
                            entry["arguments"] += call.function.arguments or ""
        except openai.APIError as error:
            raise _model_error(error, self._endpoint, self._config) from error
        yield StreamEvent(
            response=ChatResponse(
                text="".join(text_parts),
                tool_calls=[
                    ToolCall(id=entry["id"], name=entry["name"], arguments=_parse_arguments(entry["arguments"]))
                    for _, entry in sorted(calls.items())
                ],
                usage=usage,
                model=model,
                finish_reason=finish_reason,
            )
        )

    async def check_reachable(self, timeout_seconds: float) -> None:
        try:
            await self._client.with_options(max_retries=0, timeout=timeout_seconds).models.list()
        except openai.APIError as error:
            raise _model_error(error, self._endpoint, self._config) from error

    async def aclose(self) -> None:
        await self._client.close()


def _to_openai_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    result: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        result["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return result


def _parse_arguments(raw: str | None) -> dict[str, Any]:
    """Parse tool arguments; malformed JSON is kept so the tool layer can tell the model what it got wrong."""
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return {"__invalid_json__": raw}
    return parsed if isinstance(parsed, dict) else {"__invalid_json__": raw}


def _usage(usage: Any) -> TokenUsage:
    if usage is None:
        return TokenUsage()
    return TokenUsage(input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0)


def _model_error(error: openai.APIError, endpoint: str, config: ChatModelConfig) -> ModelError:
    if isinstance(error, openai.APITimeoutError):
        return model_failure("timeout", endpoint=endpoint, config=config)
    if isinstance(error, openai.APIConnectionError):
        return model_failure("connection", endpoint=endpoint, config=config)
    if isinstance(error, openai.APIStatusError):
        return model_failure("status", endpoint=endpoint, config=config, status=error.status_code, detail=error.message)
    return model_failure("other", endpoint=endpoint, config=config, detail=str(error))
