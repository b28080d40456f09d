"""An agent instrumented for real, for the agent-run tests: the ``openai`` client calls the stand-in LLM with a
``lookup_order`` tool, runs the tool call the model asks for and sends the result back, each run inside a SERVER
span. ``genai`` is ``opentelemetry-instrumentation-openai-v2`` (latest GenAI conventions, content on the span),
``openinference`` is OpenInference's OpenAI instrumentation. The tool runs inside the library's own tool span:
``opentelemetry-util-genai``'s ``execute_tool`` invocation with ``genai``, an OpenInference TOOL span (``OITracer``)
with ``openinference``. The tools come in two versions: ``v2`` changed the argument's name and type, the model keeps
sending the old arguments, and the tool fails on them. Telemetry goes over OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT``.

    python -m eval_pipelines_tests.conversations.agent_app genai v2 3
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from eval_pipelines.standin.server import Reply, StandinServer

TOOLS = {
    "v1": {"type": "object", "properties": {"order": {"type": "string", "pattern": "^#[0-9]+$"}},
           "required": ["order"], "additionalProperties": False},
    "v2": {"type": "object", "properties": {"order_id": {"type": "integer"}},
           "required": ["order_id"], "additionalProperties": False},
}


def tool_persona(request: dict[str, Any], reply: Reply) -> None:
    """Asks for the order lookup (always with the v1 arguments) until the tool's result is in the messages."""
    if request.get("tools") and request["messages"][-1].get("role") != "tool":
        reply.content = ""
        reply.finish_reason = "tool_calls"
        reply.tool_calls = [{"id": "call_1", "type": "function", "function": {
            "name": "lookup_order", "arguments": json.dumps({"order": "#1042"})}}]
    else:
        reply.content = "Order #1042 shipped yesterday."


def _instrument(instrumentation: str, tracer_provider: Any) -> None:
    if instrumentation == "genai":
        os.environ.update({"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                           "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"})
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)


def lookup_order(arguments: str, tools: str) -> str:
    """The tool: raises when the arguments lack what its schema version requires."""
    missing = [name for name in TOOLS[tools]["required"] if name not in json.loads(arguments)]
    if missing:
        raise KeyError(f"missing argument(s): {', '.join(missing)}")
    return '{"status": "shipped"}'


def _tool_runner(instrumentation: str, tracer_provider: Any) -> Any:
    """Runs one tool call inside the instrumentation library's tool span; the result, or the error as the model
    is told it."""
    if instrumentation == "genai":
        from opentelemetry.util.genai.handler import TelemetryHandler

        handler = TelemetryHandler(tracer_provider=tracer_provider)

        def run_genai(call: Any, tools: str) -> str:
            try:
                with handler.tool(call.function.name, tool_call_id=call.id, tool_type="function") as tool:
                    tool.arguments = call.function.arguments
                    tool.tool_result = lookup_order(call.function.arguments, tools)
                    return tool.tool_result
            except KeyError as error:
                return json.dumps({"error": str(error)})
        return run_genai
    from openinference.instrumentation import OITracer, TraceConfig

    tracer = OITracer(tracer_provider.get_tracer("acme.order-agent.tools"), config=TraceConfig())

    def run_openinference(call: Any, tools: str) -> str:
        try:
            with tracer.start_as_current_span(call.function.name, openinference_span_kind="tool") as span:
                span.set_tool(name=call.function.name, parameters=TOOLS[tools])
                span.set_input(call.function.arguments, mime_type="application/json")
                result = lookup_order(call.function.arguments, tools)
                span.set_output(result, mime_type="application/json")
                return result
        except KeyError as error:
            return json.dumps({"error": str(error)})
    return run_openinference


def run_agent(instrumentation: str, tools: str, runs: int) -> None:
    logging.getLogger("opentelemetry.attributes").setLevel(logging.ERROR)
    import openai
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    tracer_provider = TracerProvider(resource=Resource.create({"service.name": f"order-agent-{instrumentation}"}))
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=200))
    _instrument(instrumentation, tracer_provider)
    declared = [{"type": "function", "function": {"name": "lookup_order", "description": "An order's status.",
                                                  "parameters": TOOLS[tools]}}]
    tracer = tracer_provider.get_tracer("acme.order-agent")
    run_tool = _tool_runner(instrumentation, tracer_provider)
    with StandinServer(tool_persona) as llm:
        client = openai.OpenAI(base_url=llm.base_url, api_key="standin-not-a-secret", max_retries=0)
        for number in range(runs):
            with tracer.start_as_current_span("POST /agent", kind=SpanKind.SERVER, attributes={
                    "app.route": "/agent", "app.prompt_version": f"tools-{tools}",
                    "gen_ai.conversation.id": f"agent-{instrumentation}-{tools}-{number}"}):
                messages: list[dict[str, Any]] = [{"role": "user", "content": "Where is my order #1042?"}]
                asked = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=declared)
                call = asked.choices[0].message.tool_calls[0]
                messages += [asked.choices[0].message.model_dump(exclude_none=True),
                             {"role": "tool", "tool_call_id": call.id, "content": run_tool(call, tools)}]
                client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=declared)
    tracer_provider.shutdown()


if __name__ == "__main__":
    run_agent(sys.argv[1], sys.argv[2], int(sys.argv[3]))
