"""Map one span's attributes and events, whatever the convention, to canonical fields.

The conventions are units of :mod:`eval_pipelines.conventions` (OpenTelemetry GenAI latest and deprecated,
OpenInference, the Vercel AI SDK): this engine reads every span through all of them. What they share stays
here: the GenAI events (per-message span events and log-record events, the operation-details event), flattened
list attributes, messages, dimensions looked up by key, and retrieved documents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eval_pipelines.conventions import BY_DETECTION, BY_FIELDS, genai, genai_deprecated
from eval_pipelines.conventions.base import text as _text
from eval_pipelines.parsing import messages as msg
from eval_pipelines.parsing.otlp_values import ordered_items, to_int, unflatten

# The GenAI events below belong to these two conventions.
GENAI = genai.CONVENTION.name
GENAI_DEPRECATED = genai_deprecated.CONVENTION.name
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

_INDEXED_MESSAGES = tuple(entry for convention in BY_FIELDS for entry in convention.indexed_messages)
_INDEXED_PREFIXES = tuple(prefix for prefix, _, _ in _INDEXED_MESSAGES) + tuple(
    prefix for convention in BY_FIELDS for prefix in convention.indexed_prefixes)
_CONSUMED = frozenset().union(*(convention.consumed for convention in BY_FIELDS))
_ROLES = tuple(convention.role for convention in BY_DETECTION if convention.role is not None)
_EARLY_CONTENT = tuple(c.content for c in BY_FIELDS if c.content is not None and c.content_early)
_LATE_CONTENT = tuple(c.content for c in BY_FIELDS if c.content is not None and not c.content_early)
_COMPLETIONS = tuple(convention.complete for convention in BY_FIELDS if convention.complete is not None)
# Keys that describe the request a SERVER span received; on any other span (an SDK's client span calling a
# model API) they name the remote API's path, not the application's route.
SERVER_SPAN_KEYS = frozenset({"http.route"})
_SERVER_KINDS = frozenset({2, "2", "SPAN_KIND_SERVER", "server", "SERVER"})


def is_server_span(kind: Any) -> bool:
    return isinstance(kind, int | str) and kind in _SERVER_KINDS


def span_role(attrs: dict[str, Any]) -> str:
    """'llm' for a model call, 'retrieval' for a retriever, 'tool' for a tool's execution, 'other' for everything
    else: as the first convention that recognises the span says."""
    for role in _ROLES:
        found = role(attrs)
        if found is not None:
            return found
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


def _finish_reasons(value: Any) -> list[str] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if v is not None] or None


def _keys_of(kind: str, field_name: str) -> tuple[str, ...]:
    """The attribute keys of a canonical field over every convention, standard keys first."""
    return tuple(key for convention in BY_FIELDS for key in getattr(convention, kind).get(field_name, ()))


_STRING_FIELDS = {name: _keys_of("strings", name) for name in ("operation", "provider", "request_model",
                                                               "response_model")}
_INTEGER_FIELDS = {name: _keys_of("integers", name) for name in ("input_tokens", "output_tokens")}
_FINISH_REASON_KEYS = tuple(key for convention in BY_FIELDS for key in convention.finish_reason_keys)
_RESPONSE_ID_KEYS = tuple(key for convention in BY_FIELDS for key in convention.response_id_keys)
_REQUEST_PARAMETER_PREFIX = "gen_ai.request."


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
    response_id_keys: tuple[str, ...]
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
    prefixes = {part[0] for part in parts.values() if part is not None}
    source_format = next(convention.name for convention in BY_DETECTION if convention.claims(have, prefixes))
    return LlmKeys(
        has_indexed=len(plain) < len(keys),
        strings=tuple((name, _present(have, candidates)) for name, candidates in _STRING_FIELDS.items()),
        integers=tuple((name, _present(have, candidates)) for name, candidates in _INTEGER_FIELDS.items()),
        finish_reason_keys=_present(have, _FINISH_REASON_KEYS),
        response_id_keys=_present(have, _RESPONSE_ID_KEYS),
        request_params=tuple((key, key.removeprefix(_REQUEST_PARAMETER_PREFIX)) for key in plain
                             if key.startswith(_REQUEST_PARAMETER_PREFIX) and key not in _CONSUMED),
        rest=tuple(key for key in plain if key not in _CONSUMED),
        source_format=source_format,
        # Per-message GenAI events are the deprecated convention's, unless the span names its provider the new way.
        events_can_deprecate=source_format == GENAI and "gen_ai.provider.name" not in have,
    )


def _content(plain: dict[str, Any], indexed: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> Content:
    content = Content()
    for fill in _EARLY_CONTENT:
        fill(plain, content)
    for prefix, is_output, build in _INDEXED_MESSAGES:
        if prefix in indexed:
            role = "assistant" if is_output else "user"
            if is_output:
                content.output_messages = content.output_messages or build(indexed[prefix], role)
            else:
                content.input_messages = content.input_messages or build(indexed[prefix], role)
    if events:
        content.fill_from_events(events)
    for fill in _LATE_CONTENT:
        fill(plain, content)
    return content


def llm_fields(attrs: dict[str, Any], events: list[tuple[str, dict[str, Any]]],
               keys: LlmKeys | None = None) -> dict[str, Any]:
    """Canonical fields of one LLM span (everything but ids, times and resolved dimensions). ``keys`` is
    :func:`llm_keys` of its attribute keys: the extractor keeps it per key set, others leave it out."""
    keys = keys if keys is not None else llm_keys(tuple(attrs))
    plain, indexed = split_indexed(attrs) if keys.has_indexed else (attrs, {})
    fields = _content(plain, indexed, events).canonical()
    warnings: list[str] = []
    for name, candidates in keys.strings:
        fields[name] = _string(plain, candidates, warnings) if candidates else None
    for name, candidates in keys.integers:
        fields[name] = _integer(plain, candidates, warnings) if candidates else None
    fields["response_id"] = plain[keys.response_id_keys[0]] if keys.response_id_keys else None
    fields["request_params"] = {name: plain[key] for key, name in keys.request_params}
    fields["source_format"] = (GENAI_DEPRECATED if keys.events_can_deprecate and events
                               and not MESSAGE_EVENTS.keys().isdisjoint(name for name, _ in events)
                               else keys.source_format)
    for complete in _COMPLETIONS:
        complete(fields, plain)
    fields["response_id"] = _text(fields["response_id"])
    fields["error_type"] = _text(plain.get("error.type"))
    fields["request_params"] = msg.dumps(fields["request_params"])
    fields["finish_reasons"] = (_finish_reasons(_first(plain, *keys.finish_reason_keys))
                                or fields["finish_reasons"])
    rest = {key: plain[key] for key in keys.rest}
    fields["attributes"] = msg.dumps(rest) if rest else None
    fields["parse_warnings"] = warnings
    return fields


_TOOL_FIELDS = {name: tuple(key for convention in BY_FIELDS for key in convention.tool_strings.get(name, ()))
                for name in ("tool_name", "tool_call_id", "arguments", "result")}
# A tool's arguments and result are kept for reading, not for replaying: long ones are cut.
MAX_TOOL_TEXT_CHARS = 8_000


def _as_text(value: Any) -> str | None:
    """A string as it is, a structured attribute value (array, key-value list) as JSON; cut when long."""
    if value is None:
        return None
    return msg.cut_text(value if isinstance(value, str) else msg.dumps(value), MAX_TOOL_TEXT_CHARS)


def tool_fields(attrs: dict[str, Any]) -> dict[str, Any]:
    """A tool execution span's tool, call id, arguments and result (as text, long ones cut), the convention
    that marked it and its error type."""
    fields = {name: _as_text(_first(attrs, *keys)) for name, keys in _TOOL_FIELDS.items()}
    fields["source_format"] = next((convention.name for convention in BY_DETECTION
                                    if convention.role is not None and convention.role(attrs) == "tool"), None)
    fields["error_type"] = _text(attrs.get("error.type"))
    return fields


def retrieval_documents(attrs: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Retrieved documents of a retrieval span: OpenInference flattened list or a JSON attribute."""
    _, indexed = split_indexed(attrs)
    if "retrieval.documents." in indexed:
        docs = [unflatten(d).get("document", {}) for d in ordered_items(indexed["retrieval.documents."])]
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
