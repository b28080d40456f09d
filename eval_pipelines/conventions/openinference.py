"""OpenInference (Arize Phoenix's instrumentations): ``openinference.span.kind``, flattened
``llm.input_messages.N.message.*`` / ``llm.output_messages.N.message.*``, ``input.value`` / ``output.value``,
``llm.invocation_parameters``, ``llm.token_count.*``; retrievers' ``retrieval.documents.N.document.*``; TOOL spans
(``tool.name``, their arguments in ``input.value`` and result in ``output.value``)."""

from __future__ import annotations

from typing import Any

from eval_pipelines.conventions.base import Attributes, Convention, Indexed, text
from eval_pipelines.parsing import messages as msg
from eval_pipelines.parsing.otlp_values import ordered_items, unflatten


def role(attrs: Attributes) -> str | None:
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str):
        kind = kind.upper()
        if kind == "LLM":
            return "llm"
        if kind == "RETRIEVER":
            return "retrieval"
        if kind == "TOOL":
            return "tool"
    return None


def _message(flat: dict[str, Any]) -> dict[str, Any]:
    nested = unflatten(flat).get("message", {})
    content = nested.get("content")
    if content is None and isinstance(nested.get("contents"), list):
        content = [{"type": "text", "text": c.get("message_content", {}).get("text")}
                   for c in nested["contents"] if isinstance(c, dict)]
    calls = []
    for call in nested.get("tool_calls") or []:
        tool_call = call.get("tool_call", {}) if isinstance(call, dict) else {}
        function = tool_call.get("function", {})
        calls.append({"id": tool_call.get("id"), "function": {"name": function.get("name"),
                                                               "arguments": function.get("arguments")}})
    return {"role": nested.get("role"), "content": content, "tool_calls": calls,
            "tool_call_id": nested.get("tool_call_id")}


def indexed_messages(items: Indexed, default_role: str) -> list[dict] | None:
    return msg.normalize_messages([_message(item) for item in ordered_items(items)], default_role)


# The last ``output.value`` read and its parse: a call's output is read for its messages, then for its response
# id, and parsed once. One tuple, replaced whole, so a reader never pairs one value with another's parse.
_last_output: tuple[Any, Any] = (None, None)


def _parsed_output(attrs: Attributes) -> Any:
    global _last_output
    raw = attrs["output.value"]
    if _last_output[0] is not raw:
        _last_output = (raw, msg.loads_lenient(raw))
    return _last_output[1]


def _io(value: Any, default_role: str) -> list[dict] | None:
    """``input.value``/``output.value``: a request or response JSON, or bare text."""
    parsed = msg.loads_lenient(value)
    if isinstance(parsed, dict) and isinstance(parsed.get("choices"), list):
        return msg.normalize_messages(
            [{**c.get("message", {}), "finish_reason": c.get("finish_reason")}
             for c in parsed["choices"] if isinstance(c, dict)], default_role)
    return msg.normalize_messages(parsed, default_role)


def content(attrs: Attributes, found) -> None:
    if found.input_messages is None and "input.value" in attrs:
        found.input_messages = _io(attrs["input.value"], "user")
    if found.output_messages is None and "output.value" in attrs and (output := _parsed_output(attrs)) is not None:
        found.output_messages = _io(output, "assistant")


def complete(fields: dict[str, Any], attrs: Attributes) -> None:
    """The invocation parameters as request parameters (and the model, when no key named it); the response id
    from ``output.value``; an OpenInference LLM span is a chat call of ``llm.model_name`` unless it says more."""
    invocation = msg.loads_lenient(attrs.get("llm.invocation_parameters"))
    if isinstance(invocation, dict):
        fields["request_params"].update({k: v for k, v in invocation.items() if k not in ("model", "messages")})
        fields["request_model"] = fields["request_model"] or text(invocation.get("model"))
    if fields["response_id"] is None and "output.value" in attrs:
        output = _parsed_output(attrs)
        fields["response_id"] = output.get("id") if isinstance(output, dict) else None
    if fields["source_format"] == CONVENTION.name:
        fields["operation"] = fields["operation"] or "chat"
        fields["request_model"] = fields["request_model"] or text(attrs.get("llm.model_name"))


CONVENTION = Convention(
    name="openinference",
    detection_order=1,
    field_order=2,
    role=role,
    claims=lambda keys, prefixes: "openinference.span.kind" in keys,
    strings={"provider": ("llm.provider", "llm.system"), "response_model": ("llm.model_name",)},
    integers={"input_tokens": ("llm.token_count.prompt",), "output_tokens": ("llm.token_count.completion",)},
    finish_reason_keys=("llm.finish_reason",),
    tool_strings={"tool_name": ("tool.name",), "tool_call_id": ("tool_call.id", "tool.id"),
                  "arguments": ("input.value",), "result": ("output.value",)},
    consumed=frozenset({
        "openinference.span.kind", "llm.system", "llm.provider", "llm.model_name", "llm.invocation_parameters",
        "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total", "llm.finish_reason",
        "input.value", "input.mime_type", "output.value", "output.mime_type"}),
    indexed_messages=(("llm.input_messages.", False, indexed_messages),
                      ("llm.output_messages.", True, indexed_messages)),
    indexed_prefixes=("retrieval.documents.",),
    content=content,
    complete=complete,
)
