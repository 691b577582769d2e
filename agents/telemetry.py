"""Optional OpenTelemetry export of each run, following the GenAI semantic conventions.

One ``invoke_agent`` span per run (model, token usage, conversation id) with an ``execute_tool`` child span per
tool call. Spans go wherever the process's OpenTelemetry SDK sends them (e.g. configured by ``opentelemetry-instrument``
and the ``OTEL_*`` variables); with no SDK installed or configured the API is a no-op and this costs microseconds.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider

from agents.traces import TraceRecord

AGENT_NAME = "switchboard"


def run_tracer(provider: TracerProvider | None = None) -> Tracer:
    """The tracer runs are exported with: ``provider``'s, or the process-wide one."""
    return trace.get_tracer("switchboard.agents", tracer_provider=provider)


def export_run(tracer: Tracer, record: TraceRecord, *, provider_name: str, ended_at: float) -> None:
    """Emit the spans of one finished (or paused) run; ``ended_at`` is the wall-clock end in seconds."""
    end_ns = int(ended_at * 1e9)
    start_ns = end_ns - int(record.total_ms * 1e6)
    span = tracer.start_span(
        f"invoke_agent {AGENT_NAME}",
        kind=SpanKind.INTERNAL,
        start_time=start_ns,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT_NAME,
            "gen_ai.provider.name": provider_name,
            "gen_ai.request.model": record.model,
            "gen_ai.response.model": record.model,
            "gen_ai.usage.input_tokens": record.input_tokens,
            "gen_ai.usage.output_tokens": record.output_tokens,
            "gen_ai.conversation.id": record.thread_id,
            "switchboard.trace_id": record.trace_id,
            "switchboard.mode": record.mode,
            "switchboard.route": record.route,
            "switchboard.status": record.status,
        },
    )
    context = trace.set_span_in_context(span)
    for call in record.tool_calls:
        call_start = int(float(call.get("at", start_ns / 1e9)) * 1e9)
        child = tracer.start_span(
            f"execute_tool {call['name']}",
            context=context,
            kind=SpanKind.INTERNAL,
            start_time=call_start,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": str(call["name"])},
        )
        if call.get("error"):
            child.set_status(Status(StatusCode.ERROR, "the tool returned an error"))
        child.end(end_time=call_start + int(float(call.get("ms", 0.0)) * 1e6))
    if record.error:
        span.set_status(Status(StatusCode.ERROR, record.error))
    span.end(end_time=end_ns)
