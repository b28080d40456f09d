"""OpenTelemetry GenAI semantic conventions, latest: ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions`` (as attributes; as the
``gen_ai.client.inference.operation.details`` event they are read with the other GenAI events); ``execute_tool``
spans are tool executions (``gen_ai.tool.name``, ``gen_ai.tool.call.*``)."""

from __future__ import annotations

from eval_pipelines.conventions.base import Attributes, Convention

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
NON_LLM_OPERATIONS = frozenset({"embeddings", "invoke_agent", "create_agent"})


def role(attrs: Attributes) -> str | None:
    operation = attrs.get("gen_ai.operation.name")
    if operation == "retrieval":
        return "retrieval"
    if operation == "execute_tool":
        return "tool"
    if operation in LLM_OPERATIONS:
        return "llm"
    if operation in NON_LLM_OPERATIONS:
        return "other"
    if "gen_ai.provider.name" in attrs or "gen_ai.system" in attrs or "gen_ai.request.model" in attrs:
        return "llm"
    return None


def content(attrs: Attributes, found) -> None:
    found.fill_from_details(attrs)


CONVENTION = Convention(
    name="otel_genai",
    detection_order=3,
    field_order=0,
    role=role,
    claims=lambda keys, prefixes: True,
    strings={"operation": ("gen_ai.operation.name",), "provider": ("gen_ai.provider.name",),
             "request_model": ("gen_ai.request.model",), "response_model": ("gen_ai.response.model",)},
    integers={"input_tokens": ("gen_ai.usage.input_tokens",), "output_tokens": ("gen_ai.usage.output_tokens",)},
    finish_reason_keys=("gen_ai.response.finish_reasons",),
    response_id_keys=("gen_ai.response.id",),
    tool_strings={"tool_name": ("gen_ai.tool.name",), "tool_call_id": ("gen_ai.tool.call.id",),
                  "arguments": ("gen_ai.tool.call.arguments",), "result": ("gen_ai.tool.call.result",)},
    consumed=frozenset({
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
        "gen_ai.response.id", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gen_ai.response.finish_reasons", "gen_ai.input.messages", "gen_ai.output.messages",
        "gen_ai.system_instructions", "error.type"}),
    content=content,
    content_early=True,
)
