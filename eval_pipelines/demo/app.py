"""A small instrumented application that sends its telemetry over OTLP, as a team's own app would.

It answers a few customer questions through the real ``openai`` client, instrumented by
``opentelemetry-instrumentation-openai-v2`` (latest GenAI conventions, message content in log-record
events), each inside a SERVER span carrying the route and prompt version. The model is the stand-in LLM,
started in this process. The exporters are configured only by the standard OpenTelemetry environment
variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL`` = ``http/protobuf`` or ``grpc``,
``OTEL_EXPORTER_OTLP_HEADERS``), so it sends to the receiver, or to any OpenTelemetry Collector.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from eval_pipelines.demo.assistant import support_persona
from eval_pipelines.demo.services import SYSTEM_PROMPTS

QUESTIONS = ("Where is my order 1042?", "Can I return headphones after three weeks?",
             "Is the AquaPro smartwatch waterproof?", "How long does the Nimbus battery last?")
PROMPT_VERSION = "v6"


def _exporters() -> tuple[Any, Any]:
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(), OTLPLogExporter()


def run_app(requests: int) -> int:
    """Send ``requests`` chat requests; returns how many were answered."""
    os.environ.update({"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                       "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"})
    logging.getLogger("opentelemetry.attributes").setLevel(logging.ERROR)
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    from eval_pipelines.standin.server import StandinServer

    span_exporter, log_exporter = _exporters()
    resource = Resource.create({"service.name": "support-assistant", "deployment.environment.name": "demo"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=200))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter, schedule_delay_millis=200))
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    tracer = tracer_provider.get_tracer("acme.support-app")
    answered = 0
    with StandinServer(support_persona) as llm:
        client = openai.OpenAI(base_url=llm.base_url, api_key="standin-not-a-secret", max_retries=0)
        for number in range(requests):
            with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, attributes={
                    "app.route": "/chat", "app.prompt_version": PROMPT_VERSION,
                    "gen_ai.conversation.id": f"demo-app-{number // 2}"}):
                client.chat.completions.create(model="gpt-4o-mini", messages=[
                    {"role": "system", "content": SYSTEM_PROMPTS[PROMPT_VERSION]},
                    {"role": "user", "content": QUESTIONS[number % len(QUESTIONS)]}])
                answered += 1
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return answered
