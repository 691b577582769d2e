"""Runs exported as OpenTelemetry spans with the GenAI semantic conventions."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.agents.conftest import RuntimeFactory, brain, make_request
from tests.fakes.scripted_model import ScriptedModelServer


async def test_a_run_becomes_an_invoke_agent_span_with_tool_spans(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    scripted_model.responder = brain(act=["Run vpnctl [1]."])
    runtime = make_runtime(tracer_provider=provider)

    answer = await runtime.answer(make_request("How do I rotate the VPN certificate?", "t-otel"))

    spans = {span.name: span for span in exporter.get_finished_spans()}
    run = spans["invoke_agent switchboard"]
    assert run.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.provider.name"] == "openai"
    assert run.attributes["gen_ai.request.model"] == "scripted"
    assert run.attributes["gen_ai.usage.input_tokens"] == 22  # draft and critique, 11 each
    assert run.attributes["gen_ai.conversation.id"] == "t-otel"
    assert run.attributes["switchboard.trace_id"] == answer.trace_id
    tool = spans["execute_tool search_knowledge"]
    assert tool.parent is not None and tool.parent.span_id == run.context.span_id
    assert tool.attributes is not None and tool.attributes["gen_ai.tool.name"] == "search_knowledge"
    assert run.start_time is not None and tool.start_time is not None and tool.start_time >= run.start_time
