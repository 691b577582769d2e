"""The model gateway over loopback HTTP: the real openai and anthropic SDK clients against the scripted server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from agents import (
    ChatMessage,
    ChatModel,
    ChatModelConfig,
    ModelError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    ToolCall,
    ToolSpec,
    create_chat_model,
)
from tests.fakes.http_server import free_port
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply, ScriptedToolCall

WEATHER_TOOL = ToolSpec(
    name="current_time",
    description="The current time in a time zone.",
    parameters={"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)
QUESTION = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="What time is it?")]
FAST_RETRY = {"retry-after-ms": "10"}  # keeps retry tests fast; the SDK honours it like Retry-After


def build_model(provider: str, server: ScriptedModelServer, **overrides: object) -> ChatModel:
    config = ChatModelConfig(
        provider=provider,  # type: ignore[arg-type]
        base_url=server.base_url if provider == "openai" else server.root_url,
        api_key=SecretStr("sk-test"),
        model=f"scripted-{provider}",
        max_retries=2,
        timeout_seconds=5,
    ).model_copy(update=overrides)
    model = create_chat_model(config)
    assert model is not None
    return model


def openai_model(server: ScriptedModelServer, **overrides: object) -> ChatModel:
    return build_model("openai", server, **overrides)


def anthropic_model(server: ScriptedModelServer, **overrides: object) -> ChatModel:
    return build_model("anthropic", server, **overrides)


PROVIDERS: dict[str, Callable[..., ChatModel]] = {"openai": openai_model, "anthropic": anthropic_model}


@pytest.fixture(params=sorted(PROVIDERS))
def make_model(request: pytest.FixtureRequest) -> Callable[..., ChatModel]:
    return PROVIDERS[request.param]


def test_no_provider_means_retrieval_only() -> None:
    assert create_chat_model(ChatModelConfig(provider="none")) is None


async def test_plain_answer_with_usage(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    scripted_model.script(ScriptedReply(text="It is noon.", input_tokens=20, output_tokens=4))
    model = make_model(scripted_model)
    response = await model.complete(QUESTION)
    await model.aclose()
    assert response.text == "It is noon."
    assert response.tool_calls == []
    assert (response.usage.input_tokens, response.usage.output_tokens) == (20, 4)
    sent = scripted_model.requests[0]
    assert "Be brief." in str(sent)  # the system prompt reached the model (as a message or Anthropic's `system`)


async def test_tool_call_round_trip(scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]) -> None:
    scripted_model.script(
        ScriptedReply(tool_calls=[ScriptedToolCall(id="call_1", name="current_time", arguments={"tz": "UTC"})]),
        ScriptedReply(text="It is 12:00 UTC."),
    )
    model = make_model(scripted_model)
    first = await model.complete(QUESTION, tools=[WEATHER_TOOL])
    assert first.tool_calls == [ToolCall(id="call_1", name="current_time", arguments={"tz": "UTC"})]
    conversation = [
        *QUESTION,
        ChatMessage(role="assistant", tool_calls=first.tool_calls),
        ChatMessage(role="tool", tool_call_id="call_1", content="12:00"),
    ]
    second = await model.complete(conversation, tools=[WEATHER_TOOL])
    await model.aclose()
    assert second.text == "It is 12:00 UTC."
    # The tool's result went back to the model tied to the call that asked for it.
    assert "call_1" in str(scripted_model.requests[1]) and "12:00" in str(scripted_model.requests[1])
    assert "current_time" in str(scripted_model.requests[0])


async def test_streaming_yields_deltas_then_the_whole_response(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    scripted_model.script(ScriptedReply(text="one two three", output_tokens=3))
    model = make_model(scripted_model)
    deltas: list[str] = []
    final = None
    async for event in model.stream(QUESTION):
        if event.response is not None:
            final = event.response
        else:
            deltas.append(event.delta)
    await model.aclose()
    assert len(deltas) >= 3
    assert "".join(deltas) == "one two three"
    assert final is not None and final.text == "one two three" and final.usage.output_tokens == 3


async def test_streamed_tool_call_is_assembled(scripted_model: ScriptedModelServer) -> None:
    scripted_model.script(ScriptedReply(tool_calls=[ScriptedToolCall(name="current_time", arguments={"tz": "CET"})]))
    model = openai_model(scripted_model)
    events = [event async for event in model.stream(QUESTION, tools=[WEATHER_TOOL])]
    await model.aclose()
    final = events[-1].response
    assert final is not None
    assert [(c.name, c.arguments) for c in final.tool_calls] == [("current_time", {"tz": "CET"})]


async def test_429_with_retry_after_is_waited_out(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    scripted_model.script(ScriptedReply(status=429, headers={"Retry-After": "1"}), ScriptedReply(text="ok"))
    model = make_model(scripted_model)
    response = await model.complete(QUESTION)
    await model.aclose()
    assert response.text == "ok"
    assert len(scripted_model.requests) == 2
    # The client waited as long as the server asked before trying again.
    assert scripted_model.request_times[1] - scripted_model.request_times[0] >= 0.9


async def test_repeated_500_ends_in_a_clear_error(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    scripted_model.responder = lambda body: ScriptedReply(status=500, headers=FAST_RETRY)
    model = make_model(scripted_model, max_retries=2)
    with pytest.raises(ModelUnavailableError, match=r"HTTP 500 on all 3 attempts"):
        await model.complete(QUESTION)
    await model.aclose()
    assert len(scripted_model.requests) == 3


async def test_timeout_ends_in_a_clear_error(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    scripted_model.responder = lambda body: ScriptedReply(text="too late", delay_seconds=2)
    model = make_model(scripted_model, max_retries=0, timeout_seconds=0.3)
    with pytest.raises(ModelTimeoutError, match=r"did not answer within 0.3 s"):
        await model.complete(QUESTION)
    await model.aclose()


async def test_rejected_request_is_not_retried(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    scripted_model.responder = lambda body: ScriptedReply(status=404, text="model not found")
    model = make_model(scripted_model)
    with pytest.raises(ModelRequestError, match=r"HTTP 404.*check LLM_MODEL"):
        await model.complete(QUESTION)
    await model.aclose()
    assert len(scripted_model.requests) == 1


async def test_unreachable_endpoint_names_the_setting_to_check() -> None:
    model = create_chat_model(
        ChatModelConfig(provider="openai", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_seconds=2)
    )
    assert model is not None
    with pytest.raises(ModelUnavailableError, match="LLM_BASE_URL"):
        await model.complete(QUESTION)
    await model.aclose()


async def test_reachability_check_lists_models_once_and_names_a_dead_endpoint(
    scripted_model: ScriptedModelServer, make_model: Callable[..., ChatModel]
) -> None:
    model = make_model(scripted_model)
    await model.check_reachable(timeout_seconds=5)  # the model list answers: no error, no tokens spent
    await model.aclose()
    assert [r for r in scripted_model.requests if "messages" in r] == []

    dead = ChatModelConfig(
        provider=model.provider,  # type: ignore[arg-type]
        base_url=f"http://127.0.0.1:{free_port()}" + ("/v1" if model.provider == "openai" else ""),
        api_key=SecretStr("sk-test"),
        max_retries=3,
    )
    unreachable = create_chat_model(dead)
    assert unreachable is not None
    with pytest.raises(ModelError) as raised:
        await unreachable.check_reachable(timeout_seconds=5)
    await unreachable.aclose()
    assert "127.0.0.1" in str(raised.value)
