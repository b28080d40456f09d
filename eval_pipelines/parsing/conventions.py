"""Map one span's attributes and events, whatever the convention, to canonical fields.

Recognised: OpenTelemetry GenAI semantic conventions, latest (``gen_ai.input.messages``…,
``gen_ai.provider.name``, ``gen_ai.usage.input_tokens``) and deprecated (``gen_ai.system``,
``gen_ai.usage.prompt_tokens``, ``gen_ai.prompt.N.*`` attributes, per-message span events and
log-record events); OpenInference (``openinference.span.kind``, ``llm.*``, ``retrieval.documents.N``); the
Vercel AI SDK's own telemetry (``ai.operationId``, ``ai.prompt.messages``, ``ai.response.*``, ``ai.usage.*``:
its ``doGenerate``/``doStream`` spans are the model calls, the spans around them are not).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eval_pipelines.parsing import messages as msg
from eval_pipelines.parsing.otlp_values import to_int

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
NON_LLM_OPERATIONS = frozenset({"embeddings", "execute_tool", "invoke_agent", "create_agent", "retrieval"})
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
    "gen_ai.choice": "assistant",
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
# Older span events carrying a whole message list: event name -> (attribute, is output).
_WHOLE_CONVERSATION_EVENTS = {"gen_ai.content.prompt": ("gen_ai.prompt", False),
                              "gen_ai.content.completion": ("gen_ai.completion", True)}

_INDEXED_PREFIXES = ("llm.input_messages.", "llm.output_messages.", "retrieval.documents.",
                     "gen_ai.prompt.", "gen_ai.completion.")
_CONSUMED = frozenset({
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
    "gen_ai.response.model", "gen_ai.response.id", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "gen_ai.response.finish_reasons",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "error.type",
    "openinference.span.kind", "llm.system", "llm.provider", "llm.model_name", "llm.invocation_parameters",
    "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total", "llm.finish_reason",
    "input.value", "input.mime_type", "output.value", "output.mime_type",
    "ai.operationId", "operation.name", "ai.model.id", "ai.model.provider", "ai.prompt.messages", "ai.response.text",
    "ai.response.toolCalls", "ai.response.finishReason", "ai.response.id", "ai.response.model",
    "ai.usage.promptTokens", "ai.usage.completionTokens", "ai.usage.inputTokens", "ai.usage.outputTokens",
})
# Keys that describe the request a SERVER span received; on any other span (an SDK's client span calling a
# model API) they name the remote API's path, not the application's route.
SERVER_SPAN_KEYS = frozenset({"http.route"})
_SERVER_KINDS = frozenset({2, "2", "SPAN_KIND_SERVER", "server", "SERVER"})


def is_server_span(kind: Any) -> bool:
    return isinstance(kind, int | str) and kind in _SERVER_KINDS


# The Vercel AI SDK's span of one call to the model (the operations around it are not model calls).
VERCEL_MODEL_CALLS = (".doGenerate", ".doStream")


def span_role(attrs: dict[str, Any]) -> str:
    """'llm' for a model call, 'retrieval' for a retriever, 'other' for everything else."""
    vercel_operation = attrs.get("ai.operationId")
    if isinstance(vercel_operation, str) and vercel_operation.startswith("ai."):
        return "llm" if vercel_operation.endswith(VERCEL_MODEL_CALLS) else "other"
    oi_kind = attrs.get("openinference.span.kind")
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(oi_kind, str):
        oi_kind = oi_kind.upper()
        if oi_kind == "LLM":
            return "llm"
        if oi_kind == "RETRIEVER":
            return "retrieval"
    if operation == "retrieval":
        return "retrieval"
    if operation in LLM_OPERATIONS:
        return "llm"
    if operation in NON_LLM_OPERATIONS:
        return "other"
    if "gen_ai.provider.name" in attrs or "gen_ai.system" in attrs or "gen_ai.request.model" in attrs:
        return "llm"
    return "other"


def _indexed_part(key: str) -> tuple[str, int, str] | None:
    """``(prefix, N, rest)`` of a flattened list attribute key (``prefix.N.rest``), else None."""
    if "." in key and key.startswith(_INDEXED_PREFIXES):
        for prefix in _INDEXED_PREFIXES:
            if key.startswith(prefix):
                index, _, rest = key[len(prefix):].partition(".")
                if index.isdigit() and rest:
                    return prefix, int(index), rest
    return None


def split_indexed(attrs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[int, dict[str, Any]]]]:
    """Separate flattened list attributes (``prefix.N.rest``) from the others, in one pass."""
    plain: dict[str, Any] = {}
    indexed: dict[str, dict[int, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for key, value in attrs.items():
        part = _indexed_part(key)
        if part is None:
            plain[key] = value
        else:
            prefix, index, rest = part
            indexed[prefix][index][rest] = value
    return plain, indexed


class ByKeySet(dict):
    """What a span's attribute keys alone decide, worked out once per distinct key set.

    Spans from one instrumentation share a handful of key sets (in the same order), so a tuple lookup
    replaces per-key string tests on every span. Bounded: hostile input with ever-new keys only
    refills it."""

    MAX_ENTRIES = 1024
    MAX_KEYS = 256

    def __init__(self, build: Callable[[tuple[str, ...]], Any]) -> None:
        super().__init__()
        self.build = build

    def of(self, attrs: dict[str, Any]) -> Any:
        keys = tuple(attrs)
        return self[keys] if len(keys) <= self.MAX_KEYS else self.build(keys)

    def __missing__(self, keys: tuple[str, ...]) -> Any:
        if len(self) >= self.MAX_ENTRIES:
            self.clear()
        value = self[keys] = self.build(keys)
        return value


def _ordered(items: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [items[i] for i in sorted(items)]


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"message.tool_calls.0.tool_call.function.name": v}`` to nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node: Any = root
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    return _lists_from_digit_keys(root)


def _lists_from_digit_keys(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists_from_digit_keys(node[k]) for k in sorted(node, key=int)]
    return {k: _lists_from_digit_keys(v) for k, v in node.items()}


def _openinference_message(flat: dict[str, Any]) -> dict[str, Any]:
    nested = _unflatten(flat).get("message", {})
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


def _openinference_messages(indexed: dict[int, dict[str, Any]], default_role: str) -> list[dict] | None:
    return msg.normalize_messages([_openinference_message(f) for f in _ordered(indexed)], default_role)


def _openllmetry_messages(indexed: dict[int, dict[str, Any]], default_role: str) -> list[dict] | None:
    return msg.normalize_messages(_ordered(indexed), default_role)


_INDEXED_MESSAGES = (
    ("llm.input_messages.", False, _openinference_messages),
    ("llm.output_messages.", True, _openinference_messages),
    ("gen_ai.prompt.", False, _openllmetry_messages),
    ("gen_ai.completion.", True, _openllmetry_messages),
)


def _openinference_io(value: Any, default_role: str) -> list[dict] | None:
    """``input.value``/``output.value``: a request or response JSON, or bare text."""
    parsed = msg.loads_lenient(value)
    if isinstance(parsed, dict) and isinstance(parsed.get("choices"), list):
        return msg.normalize_messages(
            [{**c.get("message", {}), "finish_reason": c.get("finish_reason")}
             for c in parsed["choices"] if isinstance(c, dict)], default_role)
    return msg.normalize_messages(parsed, default_role)


def event_message(name: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """A deprecated per-message event (span event attributes or log-record body) as one message."""
    role = MESSAGE_EVENTS[name]
    body = payload
    if name == "gen_ai.choice":
        inner = payload.get("message") if isinstance(payload.get("message"), dict) else payload
        body = {**inner, "finish_reason": payload.get("finish_reason")}
    elif isinstance(payload.get("gen_ai.event.content"), str):
        body = msg.loads_lenient(payload["gen_ai.event.content"])
        body = body if isinstance(body, dict) else {"content": body}
    body = {**body, "role": body.get("role") or role}
    return msg.normalize_message(body, role)


class Content:
    """Messages of one LLM call, collected from whichever source provides them."""

    __slots__ = ("input_messages", "output_messages", "system")

    def __init__(self) -> None:
        self.input_messages: list[dict] | None = None
        self.output_messages: list[dict] | None = None
        self.system: str | None = None

    def fill_from_details(self, attrs: dict[str, Any]) -> None:
        self.input_messages = self.input_messages or msg.normalize_messages(attrs.get("gen_ai.input.messages"))
        self.output_messages = self.output_messages or msg.normalize_messages(
            attrs.get("gen_ai.output.messages"), "assistant")
        self.system = self.system or msg.system_instructions_text(attrs.get("gen_ai.system_instructions"))

    def fill_from_messages(self, messages: Iterable[tuple[bool, dict[str, Any] | None]]) -> None:
        """``(is_output, message)`` pairs in order, as per-message events give them; fills what is missing."""
        inputs, outputs = [], []
        for is_output, message in messages:
            if message is not None:
                (outputs if is_output else inputs).append(message)
        self.input_messages = self.input_messages or inputs or None
        self.output_messages = self.output_messages or outputs or None

    def fill_from_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        messages: list[tuple[bool, dict[str, Any] | None]] = []
        for name, payload in events:
            if name == DETAILS_EVENT:
                self.fill_from_details(payload)
            elif name in _WHOLE_CONVERSATION_EVENTS:
                key, is_output = _WHOLE_CONVERSATION_EVENTS[name]
                listed = msg.normalize_messages(payload.get(key), "assistant" if is_output else "user")
                messages += [(is_output, m) for m in listed or []]
            elif name in MESSAGE_EVENTS:
                messages.append((name == "gen_ai.choice", event_message(name, payload)))
        self.fill_from_messages(messages)

    def canonical(self) -> dict[str, Any]:
        system_from_messages, inputs, input_text = msg.read_inputs(self.input_messages)
        system = "\n".join(s for s in (self.system, system_from_messages) if s) or None
        outputs = self.output_messages
        output_text, tool_calls, finish_reasons = msg.read_outputs(outputs)
        return {
            "input_messages": msg.dumps(inputs),
            "output_messages": msg.dumps(outputs),
            "input_text": input_text,
            "output_text": output_text,
            "system_instructions": system,
            "tool_calls": msg.dumps(tool_calls),
            "finish_reasons": finish_reasons,
        }


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else (value if isinstance(value, str) else str(value))


def _finish_reasons(value: Any) -> list[str] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if v is not None] or None


_STRING_FIELDS = {
    "operation": ("gen_ai.operation.name",),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "request_model": ("gen_ai.request.model", "ai.model.id"),
    "response_model": ("gen_ai.response.model", "llm.model_name", "ai.response.model"),
}
_INTEGER_FIELDS = {
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                     "ai.usage.inputTokens", "ai.usage.promptTokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
                      "ai.usage.outputTokens", "ai.usage.completionTokens"),
}
_FINISH_REASON_KEYS = ("gen_ai.response.finish_reasons", "llm.finish_reason", "ai.response.finishReason")
_DEPRECATED_MARKERS = frozenset({"gen_ai.system", "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens"})


def _string(attrs: dict[str, Any], keys: tuple[str, ...], warnings: list[str]) -> str | None:
    for key in keys:
        raw = attrs[key]
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str):
            warnings.append(f"{key} is not a string: {str(raw)[:40]!r}")
            return str(raw)
        return raw
    return None


def _integer(attrs: dict[str, Any], keys: tuple[str, ...], warnings: list[str]) -> int | None:
    for key in keys:
        raw = attrs[key]
        if raw is None or raw == "":
            continue
        value = to_int(raw)
        if value is None:
            warnings.append(f"{key} is not an integer: {str(raw)[:40]!r}")
        return value
    return None


@dataclass(frozen=True)
class LlmKeys:
    """What an LLM span's key set alone decides: the keys each field is read from (those of its candidate
    keys that are present, in priority order), the request parameters, the rest, and the source format."""

    has_indexed: bool
    strings: tuple[tuple[str, tuple[str, ...]], ...]  # (field, keys)
    integers: tuple[tuple[str, tuple[str, ...]], ...]
    finish_reason_keys: tuple[str, ...]
    request_params: tuple[tuple[str, str], ...]  # (attribute key, parameter name)
    rest: tuple[str, ...]
    source_format: str  # before per-message events are seen: they can make it otel_genai_deprecated
    events_can_deprecate: bool


def _present(keys: set[str], candidates: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(key for key in candidates if key in keys)


def llm_keys(keys: tuple[str, ...]) -> LlmKeys:
    parts = {key: _indexed_part(key) for key in keys}
    plain = [key for key in keys if parts[key] is None]
    have = set(plain)
    deprecated = not _DEPRECATED_MARKERS.isdisjoint(have) or any(
        part is not None and part[0] == "gen_ai.prompt." for part in parts.values())
    openinference = "openinference.span.kind" in have
    vercel = "ai.operationId" in have
    provider_named = "gen_ai.provider.name" in have
    return LlmKeys(
        has_indexed=len(plain) < len(keys),
        strings=tuple((name, _present(have, candidates)) for name, candidates in _STRING_FIELDS.items()),
        integers=tuple((name, _present(have, candidates)) for name, candidates in _INTEGER_FIELDS.items()),
        finish_reason_keys=_present(have, _FINISH_REASON_KEYS),
        request_params=tuple((key, key.removeprefix("gen_ai.request.")) for key in plain
                             if key.startswith("gen_ai.request.") and key != "gen_ai.request.model"),
        rest=tuple(key for key in plain if key not in _CONSUMED),
        source_format=("openinference" if openinference else "vercel_ai_sdk" if vercel else
                       "otel_genai_deprecated" if deprecated and not provider_named else "otel_genai"),
        events_can_deprecate=not openinference and not vercel and not provider_named,
    )


def _request_params(attrs: dict[str, Any], keys: LlmKeys, invocation: Any) -> dict[str, Any]:
    params = {name: attrs[key] for key, name in keys.request_params}
    if isinstance(invocation, dict):
        params.update({k: v for k, v in invocation.items() if k not in ("model", "messages")})
    return params


def _vercel_output(plain: dict[str, Any]) -> list[dict] | None:
    """The Vercel AI SDK's answer: ``ai.response.text`` and the tool calls in ``ai.response.toolCalls``."""
    calls = msg.loads_lenient(plain.get("ai.response.toolCalls"))
    tool_calls = [{"id": call.get("toolCallId"), "function": {
        "name": call.get("toolName"), "arguments": call.get("input", call.get("args"))}}
        for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []
    message = {"role": "assistant", "content": _text(plain.get("ai.response.text")) or "",
               "tool_calls": tool_calls, "finish_reason": plain.get("ai.response.finishReason")}
    return msg.normalize_messages([message], "assistant")


def _content(plain: dict[str, Any], indexed: dict[str, Any], events: list[tuple[str, dict[str, Any]]],
             output_value: Any) -> Content:
    content = Content()
    content.fill_from_details(plain)
    for prefix, is_output, build in _INDEXED_MESSAGES:
        if prefix in indexed:
            role = "assistant" if is_output else "user"
            if is_output:
                content.output_messages = content.output_messages or build(indexed[prefix], role)
            else:
                content.input_messages = content.input_messages or build(indexed[prefix], role)
    if events:
        content.fill_from_events(events)
    if content.input_messages is None and "ai.prompt.messages" in plain:
        content.input_messages = msg.normalize_messages(plain["ai.prompt.messages"])
    if content.output_messages is None and ("ai.response.text" in plain or "ai.response.toolCalls" in plain):
        content.output_messages = _vercel_output(plain)
    if content.input_messages is None and "input.value" in plain:
        content.input_messages = _openinference_io(plain["input.value"], "user")
    if content.output_messages is None and output_value is not None:
        content.output_messages = _openinference_io(output_value, "assistant")
    return content


def llm_fields(attrs: dict[str, Any], events: list[tuple[str, dict[str, Any]]],
               keys: LlmKeys | None = None) -> dict[str, Any]:
    """Canonical fields of one LLM span (everything but ids, times and resolved dimensions). ``keys`` is
    :func:`llm_keys` of its attribute keys: the extractor keeps it per key set, others leave it out."""
    keys = keys if keys is not None else llm_keys(tuple(attrs))
    plain, indexed = split_indexed(attrs) if keys.has_indexed else (attrs, {})
    output_value = msg.loads_lenient(plain["output.value"]) if "output.value" in plain else None
    fields = _content(plain, indexed, events, output_value).canonical()
    warnings: list[str] = []
    for name, candidates in keys.strings:
        fields[name] = _string(plain, candidates, warnings) if candidates else None
    for name, candidates in keys.integers:
        fields[name] = _integer(plain, candidates, warnings) if candidates else None
    invocation = msg.loads_lenient(plain.get("llm.invocation_parameters"))
    openinference = keys.source_format == "openinference"
    fields["operation"] = fields["operation"] or ("chat" if keys.source_format in ("openinference", "vercel_ai_sdk")
                                                  else None)
    fields["request_model"] = (fields["request_model"]
                               or _text(invocation.get("model") if isinstance(invocation, dict) else None)
                               or (_text(plain.get("llm.model_name")) if openinference else None))
    response_id = plain.get("gen_ai.response.id", plain.get("ai.response.id"))
    if response_id is None and isinstance(output_value, dict):
        response_id = output_value.get("id")
    fields["response_id"] = _text(response_id)
    fields["error_type"] = _text(plain.get("error.type"))
    fields["request_params"] = msg.dumps(_request_params(plain, keys, invocation))
    fields["source_format"] = ("otel_genai_deprecated" if keys.events_can_deprecate and events
                               and not MESSAGE_EVENTS.keys().isdisjoint(name for name, _ in events)
                               else keys.source_format)
    fields["finish_reasons"] = (_finish_reasons(_first(plain, *keys.finish_reason_keys))
                                or fields["finish_reasons"])
    rest = {key: plain[key] for key in keys.rest}
    fields["attributes"] = msg.dumps(rest) if rest else None
    fields["parse_warnings"] = warnings
    return fields


def retrieval_documents(attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Retrieved documents of a retrieval span: OpenInference flattened list or a JSON attribute."""
    _, indexed = split_indexed(attrs)
    if "retrieval.documents." in indexed:
        docs = [_unflatten(d).get("document", {}) for d in _ordered(indexed["retrieval.documents."])]
    else:
        raw = msg.loads_lenient(_first(attrs, "retrieval.documents", "gen_ai.retrieval.documents"))
        docs = raw if isinstance(raw, list) else []
    out = []
    for doc in docs:
        if isinstance(doc, dict):
            out.append({"id": _text(doc.get("id")), "content": _text(doc.get("content")),
                        "score": doc.get("score"), "metadata": doc.get("metadata")})
        elif isinstance(doc, str):
            out.append({"id": None, "content": doc, "score": None, "metadata": None})
    return out or None


LookupPlan = tuple[tuple[int, tuple[str, ...]], ...]


class Lookups:
    """The values a span carries for each tree-resolved name (dimension, session, user): for each name,
    the first of its configured keys that the span has with a non-empty value."""

    def __init__(self, keys_by_name: dict[str, list[str]]) -> None:
        self.names = tuple(keys_by_name)
        self._keys_by_name = keys_by_name

    def plan(self, keys: tuple[str, ...], server_span: bool = True) -> LookupPlan:
        """Per name (by position), its configured keys that this key set has, in configured order (without the
        :data:`SERVER_SPAN_KEYS` unless ``server_span``)."""
        have = set(keys) if server_span else set(keys) - SERVER_SPAN_KEYS
        present = ((position, tuple(key for key in wanted if key in have))
                   for position, wanted in enumerate(self._keys_by_name.values()))
        return tuple((position, candidates) for position, candidates in present if candidates)

    def values(self, attrs: dict[str, Any], plan: LookupPlan | None = None) -> list[str | None] | None:
        """The value of every name, in the order of :attr:`names`; None when the span carries none. ``plan``
        is :meth:`plan` of the span's attribute keys: the extractor keeps it per key set, others leave it out."""
        found: list[str | None] | None = None
        for position, candidates in plan if plan is not None else self.plan(tuple(attrs)):
            for key in candidates:
                value = attrs[key]
                if value is not None and value != "":
                    if found is None:
                        found = [None] * len(self.names)
                    found[position] = _text(value)
                    break
        return found


def positional(found: dict[str, str | None], names: tuple[str, ...]) -> list[str | None] | None:
    """Named lookup values in the order of ``names`` (what :meth:`Lookups.values` gives for a span)."""
    values = [found.get(name) for name in names]
    return values if any(value is not None for value in values) else None


def error_type_from_events(events: list[tuple[str, dict[str, Any]]]) -> str | None:
    for name, payload in events:
        if name == "exception" and payload.get("exception.type"):
            return _text(payload["exception.type"])
    return None
