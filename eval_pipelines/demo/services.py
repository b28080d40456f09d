"""The demo's four services, each instrumented the way real teams do it (one process per service).

- ``support-assistant``: ``opentelemetry-instrumentation-openai-v2``, latest GenAI conventions,
  content on the span (``gen_ai.input.messages``…);
- ``ticket-classifier``: the same instrumentation, content only in the
  ``gen_ai.client.inference.operation.details`` log-record event;
- ``shipping-bot-legacy``: hand-written instrumentation in the deprecated conventions
  (``gen_ai.system``, ``gen_ai.usage.prompt_tokens``, ``gen_ai.user.message``/``gen_ai.choice`` log events);
- ``kb-search``: OpenInference's OpenAI instrumentation, with a retriever span and prompt template version;
- ``order-agent``: OpenInference's OpenAI instrumentation again, an agent calling a ``lookup_order`` tool (the
  declared tools are on its spans; each execution is an OpenInference TOOL span) and answering once it has the
  result.
Every request runs inside an application SERVER span carrying route and prompt version.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eval_pipelines.demo.assistant import JSON_INSTRUCTION, LOOP_RULE, STRICT_RULE
from eval_pipelines.demo.scenario import PlannedRequest
from eval_pipelines.standin.server import stable_fraction

INSTRUMENTATION_ENV = {
    "support-assistant": {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                          "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"},
    "ticket-classifier": {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
                          "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"},
}
KNOWLEDGE_BASE = {
    "kb-101": "All TrailBlazer and AquaPro products are rated IP67 (dust-tight, 30 minutes at 1 m depth).",
    "kb-102": "Every product carries a two-year limited warranty covering manufacturing defects.",
    "kb-103": "The Nimbus headphones battery lasts 30 hours; the AquaPro smartwatch lasts 5 days.",
    "kb-104": "Returns are accepted within 30 days with the prepaid label from the Orders page.",
}
SYSTEM_PROMPTS = {
    "v6": "You are Acme's support assistant. Be concise and friendly.",
    "v7": f"You are Acme's support assistant. Be concise. Only discuss order details after {STRICT_RULE}.",
    "v4": "You are Acme's support assistant. Be concise and friendly.",
    "triage-v2": f"Classify the customer e-mail. {JSON_INSTRUCTION}: intent, urgency, language.",
    "ship-v1": "You answer shipping questions for Acme.",
    "agent-v1": "You change Acme orders for customers. Look the order up with lookup_order, then act on it.",
    "agent-v2": f"You change Acme orders for customers. Before any change, always {LOOP_RULE}.",
    "kb-v3": "Answer from the context documents and cite their ids in brackets.\nContext:\n{context}",
}


# The order agent's tool, in the schema of each version: v2 (deployed during the staged incident) takes an integer
# order_id, while the model keeps sending v1's order string.
ORDER_TOOL_SCHEMAS = {
    "v1": {"type": "object", "properties": {"order": {"type": "string", "pattern": "^#[0-9]+$"}},
           "required": ["order"], "additionalProperties": False},
    "v2": {"type": "object", "properties": {"order_id": {"type": "integer"}},
           "required": ["order_id"], "additionalProperties": False},
}
MAX_AGENT_STEPS = 5


def _providers(service: str, landing: Path) -> tuple[Any, Any, Any]:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from eval_pipelines.demo.collector_files import (
        CollectorLogExporter,
        CollectorSpanExporter,
        HourlyFiles,
        TimeShift,
    )

    resource = Resource.create({"service.name": service, "service.version": "2026.11.3",
                                "deployment.environment.name": "production"})
    shift = TimeShift()
    files = HourlyFiles(landing / "otel", service)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(CollectorSpanExporter(files, shift),
                                                          max_export_batch_size=512, schedule_delay_millis=200))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(CollectorLogExporter(files, shift),
                                                                     schedule_delay_millis=200))
    return tracer_provider, logger_provider, shift


def _instrument(service: str, tracer_provider: Any, logger_provider: Any) -> None:
    if service in INSTRUMENTATION_ENV:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    elif service in ("kb-search", "order-agent"):
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor

        OpenInferenceInstrumentor().instrument(tracer_provider=tracer_provider)


def _legacy_call(tracer: Any, logger: Any, client: Any, request: PlannedRequest, messages: list[dict],
                 headers: dict[str, str]) -> Any:
    """Hand-written instrumentation in the deprecated GenAI conventions."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with tracer.start_as_current_span(f"chat {request.model}", kind=SpanKind.CLIENT) as span:
        span.set_attributes({"gen_ai.system": "openai", "gen_ai.operation.name": "chat",
                             "gen_ai.request.model": request.model, "gen_ai.request.temperature": 0.3})
        for message in messages:
            logger.emit(attributes={"event.name": f"gen_ai.{message['role']}.message", "gen_ai.system": "openai"},
                        body={"content": message["content"]})
        try:
            response = client.chat.completions.create(model=request.model, messages=messages, temperature=0.3,
                                                      extra_headers=headers)
        except Exception as exc:
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            span.set_attribute("error.type", type(exc).__name__)
            raise
        choice = response.choices[0]
        span.set_attributes({
            "gen_ai.response.model": response.model, "gen_ai.response.id": response.id,
            "gen_ai.usage.prompt_tokens": response.usage.prompt_tokens,
            "gen_ai.usage.completion_tokens": response.usage.completion_tokens,
            "gen_ai.response.finish_reasons": [choice.finish_reason],
        })
        logger.emit(attributes={"event.name": "gen_ai.choice", "gen_ai.system": "openai"},
                    body={"index": 0, "finish_reason": choice.finish_reason,
                          "message": {"role": "assistant", "content": choice.message.content}})
        return response


def _retrieve(tracer: Any, request: PlannedRequest) -> str:
    ids = sorted(KNOWLEDGE_BASE, key=lambda doc: stable_fraction(doc, request.question))[:2]
    attributes: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": request.question}
    for i, doc in enumerate(ids):
        attributes[f"retrieval.documents.{i}.document.id"] = doc
        attributes[f"retrieval.documents.{i}.document.content"] = KNOWLEDGE_BASE[doc]
        attributes[f"retrieval.documents.{i}.document.score"] = round(0.9 - 0.1 * i, 2)
    with tracer.start_as_current_span("retrieve", attributes=attributes):
        pass
    return "\n".join(f"[{doc}] {KNOWLEDGE_BASE[doc]}" for doc in ids)


def _looks_bad(answer: str | None) -> bool:
    lowered = (answer or "").lower()
    return not answer or "sorry" in lowered or "cannot" in lowered or lowered.count("{") != lowered.count("}")


def _survey_rating(request: PlannedRequest, answer: str | None, response_id: str | None) -> dict | None:
    """A CSAT survey answer some minutes later, exported by a survey tool into ``landing/feedback/``."""
    if not (0.12 <= request.feedback_draw < 0.16 and response_id):
        return None
    low = _looks_bad(answer) or request.feedback_draw < 0.125
    rating = 1 + int(request.feedback_draw * 1000) % 2 if low else 4 + int(request.feedback_draw * 1000) % 2
    at = datetime.fromtimestamp((request.sim_ns + int(request.feedback_draw * 1e12)) / 1e9, tz=UTC)
    return {"timestamp": at.isoformat(), "response_id": response_id, "kind": "rating", "value": rating, "scale": 5,
            "user_id": request.user_id}


def _feedback(root: Any, request: PlannedRequest, answer: str | None, response_id: str | None) -> None:
    if request.feedback_draw >= 0.12:
        return
    bad = _looks_bad(answer)
    thumbs_down = request.feedback_draw < (0.08 if bad else 0.008)
    attributes = {"feedback.kind": "thumbs", "feedback.value": "down" if thumbs_down else "up"}
    if response_id:
        attributes["gen_ai.response.id"] = response_id
    if thumbs_down and request.feedback_draw < 0.004:
        attributes["feedback.comment"] = "This did not answer my question."
    root.add_event("eval_pipelines.feedback", attributes)


def _handler(service: str, client: Any, tracer: Any, logger: Any, shift: Any,
             survey: list[dict]) -> Callable[[PlannedRequest], None]:
    from opentelemetry.trace import SpanKind

    def handle(request: PlannedRequest) -> None:
        started = time.time_ns()
        attributes = {"app.route": request.route, "http.request.method": "POST", "user.id": request.user_id}
        if service == "kb-search":
            attributes.update({"openinference.span.kind": "CHAIN", "session.id": request.session_id})
        else:
            attributes.update({"app.prompt_version": request.prompt_version,
                               "gen_ai.conversation.id": request.session_id})
        if request.feature_flag:
            attributes["app.feature_flag"] = request.feature_flag
        with tracer.start_as_current_span(f"POST {request.route}", kind=SpanKind.SERVER, start_time=started,
                                          attributes=attributes) as root:
            shift.register(root.get_span_context().trace_id, request.sim_ns - started)
            system = SYSTEM_PROMPTS[request.prompt_version]
            if service == "kb-search":
                system = system.format(context=_retrieve(tracer, request))
            messages = [{"role": "system", "content": system}, {"role": "user", "content": request.question}]
            headers = {"X-Standin-Fault": request.fault} if request.fault else {}
            try:
                response = _call(service, client, tracer, logger, request, messages, headers)
            except Exception:
                return
            answer = response.choices[0].message.content
            _feedback(root, request, answer, response.id)
            if (rating := _survey_rating(request, answer, response.id)) is not None:
                survey.append(rating)

    return handle


def _call(service: str, client: Any, tracer: Any, logger: Any, request: PlannedRequest, messages: list[dict],
          headers: dict[str, str]) -> Any:
    if service == "shipping-bot-legacy":
        return _legacy_call(tracer, logger, client, request, messages, headers)
    if service == "order-agent":
        return _agent_run(client, tracer, request, messages, headers)
    if service == "kb-search":
        from openinference.instrumentation import using_prompt_template, using_session, using_user

        with using_session(request.session_id), using_user(request.user_id), using_prompt_template(
                template=SYSTEM_PROMPTS["kb-v3"], version=request.prompt_version):
            return client.chat.completions.create(model=request.model, messages=messages, temperature=0.2,
                                                  extra_headers=headers)
    return client.chat.completions.create(model=request.model, messages=messages, temperature=0.2,
                                          extra_headers=headers)


def _agent_run(client: Any, tracer: Any, request: PlannedRequest, messages: list[dict],
               headers: dict[str, str]) -> Any:
    """The order agent: a model step, the tool calls it asks for with their results, until it answers."""
    from openinference.instrumentation import OITracer, TraceConfig

    tool_tracer = OITracer(tracer, config=TraceConfig())
    schema = ORDER_TOOL_SCHEMAS[request.tools or "v1"]
    tools = [{"type": "function", "function": {"name": "lookup_order", "description": "An order's status and what "
              "can still be changed.", "parameters": schema}}]
    for _ in range(MAX_AGENT_STEPS):
        response = client.chat.completions.create(model=request.model, messages=messages, tools=tools,
                                                  temperature=0.2, extra_headers=headers)
        message = response.choices[0].message
        if not message.tool_calls:
            break
        messages = [*messages, message.model_dump(exclude_none=True),
                    *({"role": "tool", "tool_call_id": call.id,
                       "content": _run_tool(tool_tracer, call.function.arguments, schema)}
                      for call in message.tool_calls)]
    return response


def _run_tool(tool_tracer: Any, arguments: str, schema: dict) -> str:
    """One ``lookup_order`` execution in its TOOL span; a failure is the span's error and the model's reply."""
    try:
        with tool_tracer.start_as_current_span("lookup_order", openinference_span_kind="tool") as span:
            span.set_tool(name="lookup_order", parameters=schema)
            span.set_input(arguments, mime_type="application/json")
            result = _lookup(arguments, schema)
            span.set_output(result, mime_type="application/json")
            return result
    except ValueError as error:
        return json.dumps({"error": str(error)})


def _lookup(arguments: str, schema: dict) -> str:
    """The tool: raises when the arguments lack what its schema requires."""
    try:
        given = json.loads(arguments)
    except ValueError:
        given = {}
    missing = [field for field in schema["required"] if not isinstance(given, dict) or field not in given]
    if missing:
        raise ValueError(f"{', '.join(missing)} is required")
    return json.dumps({"status": "processing", "cancellable": True})


def run_service(service: str, requests: list[PlannedRequest], base_url: str, landing: str, workers: int) -> int:
    """Entry point of one service process: send its requests, flush telemetry; returns lines written."""
    os.environ.update(INSTRUMENTATION_ENV.get(service, {}))
    # openai-v2 2.4b0 sets error.type to a class object on failed calls; the SDK warns per span.
    logging.getLogger("opentelemetry.attributes").setLevel(logging.ERROR)
    import openai

    tracer_provider, logger_provider, shift = _providers(service, Path(landing))
    _instrument(service, tracer_provider, logger_provider)
    client = openai.OpenAI(base_url=base_url, api_key="standin-not-a-secret", max_retries=0, timeout=30)
    handle = _handler(service, client, tracer_provider.get_tracer("acme.support-app"),
                      logger_provider.get_logger("acme.support-app"), shift, survey := [])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(handle, requests))
    if survey:
        day = datetime.fromtimestamp(requests[0].sim_ns / 1e9, tz=UTC).date()
        target = Path(landing) / "feedback" / day.isoformat() / f"csat-{service}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in survey))
    tracer_provider.force_flush()
    logger_provider.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return 0
