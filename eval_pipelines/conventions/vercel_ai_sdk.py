"""The Vercel AI SDK's own telemetry (``experimental_telemetry``): its ``ai.*.doGenerate`` / ``ai.*.doStream`` spans
are the model calls (the spans around them are not; ``ai.toolCall`` spans are tool executions), with
``ai.prompt.messages``, ``ai.response.*`` and ``ai.usage.*``."""

from __future__ import annotations

from typing import Any

from eval_pipelines.conventions.base import Attributes, Convention, text
from eval_pipelines.parsing import messages as msg

MODEL_CALLS = (".doGenerate", ".doStream")
TOOL_CALL = "ai.toolCall"


def role(attrs: Attributes) -> str | None:
    operation = attrs.get("ai.operationId")
    if isinstance(operation, str) and operation.startswith("ai."):
        return "llm" if operation.endswith(MODEL_CALLS) else "tool" if operation == TOOL_CALL else "other"
    return None


def _output(attrs: Attributes) -> list[dict] | None:
    """The answer: ``ai.response.text`` and the tool calls in ``ai.response.toolCalls``."""
    calls = msg.loads_lenient(attrs.get("ai.response.toolCalls"))
    tool_calls = [{"id": call.get("toolCallId"), "function": {
        "name": call.get("toolName"), "arguments": call.get("input", call.get("args"))}}
        for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []
    message = {"role": "assistant", "content": text(attrs.get("ai.response.text")) or "",
               "tool_calls": tool_calls, "finish_reason": attrs.get("ai.response.finishReason")}
    return msg.normalize_messages([message], "assistant")


def content(attrs: Attributes, found) -> None:
    if found.input_messages is None and "ai.prompt.messages" in attrs:
        found.input_messages = msg.normalize_messages(attrs["ai.prompt.messages"])
    if found.output_messages is None and ("ai.response.text" in attrs or "ai.response.toolCalls" in attrs):
        found.output_messages = _output(attrs)


def complete(fields: dict[str, Any], attrs: Attributes) -> None:
    if fields["source_format"] == CONVENTION.name:
        fields["operation"] = fields["operation"] or "chat"


CONVENTION = Convention(
    name="vercel_ai_sdk",
    detection_order=0,
    field_order=3,
    role=role,
    claims=lambda keys, prefixes: "ai.operationId" in keys,
    strings={"request_model": ("ai.model.id",), "response_model": ("ai.response.model",)},
    integers={"input_tokens": ("ai.usage.inputTokens", "ai.usage.promptTokens"),
              "output_tokens": ("ai.usage.outputTokens", "ai.usage.completionTokens")},
    finish_reason_keys=("ai.response.finishReason",),
    response_id_keys=("ai.response.id",),
    tool_strings={"tool_name": ("ai.toolCall.name",), "tool_call_id": ("ai.toolCall.id",),
                  "arguments": ("ai.toolCall.args", "ai.toolCall.input"),
                  "result": ("ai.toolCall.result", "ai.toolCall.output")},
    consumed=frozenset({
        "ai.operationId", "operation.name", "ai.model.id", "ai.model.provider", "ai.prompt.messages",
        "ai.response.text", "ai.response.toolCalls", "ai.response.finishReason", "ai.response.id",
        "ai.response.model", "ai.usage.promptTokens", "ai.usage.completionTokens", "ai.usage.inputTokens",
        "ai.usage.outputTokens"}),
    content=content,
    complete=complete,
)
