"""The fast path for the common case: a trace export request exactly as the OTLP/JSON spec writes it.

msgspec decodes such a line straight into the structs below, in C, creating no dict per attribute,
span or value. It is strict on purpose: any other key (snake_case, a newer OTLP field, a log export)
or an unexpected type makes :func:`decode_trace_request` return None, and the line goes through the
lenient dict reader (:mod:`eval_pipelines.parsing.otlp_values`) instead. So this path only ever
speeds up lines that both readers read the same way; it never decides how a deviant line is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from eval_pipelines.parsing.otlp_values import ANY_VALUE_KINDS, any_value_of_kind, to_int


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    pass


class AnyValue(_Strict):
    stringValue: str | None = None  # noqa: N815 - OTLP/JSON's own key names
    intValue: int | str | None = None  # noqa: N815
    doubleValue: float | str | None = None  # noqa: N815
    boolValue: bool | None = None  # noqa: N815
    bytesValue: str | None = None  # noqa: N815
    arrayValue: dict[str, Any] | None = None  # noqa: N815 - rare: left to the dict reader
    kvlistValue: dict[str, Any] | None = None  # noqa: N815


class KeyValue(_Strict):
    key: str | None = None
    value: AnyValue | None = None


class Event(_Strict):
    timeUnixNano: int | str | None = None  # noqa: N815
    name: str | None = None
    attributes: list[KeyValue] = []
    droppedAttributesCount: int | None = None  # noqa: N815


class Link(_Strict):
    traceId: str | None = None  # noqa: N815
    spanId: str | None = None  # noqa: N815
    traceState: str | None = None  # noqa: N815
    attributes: list[KeyValue] = []
    droppedAttributesCount: int | None = None  # noqa: N815
    flags: int | None = None


class Status(_Strict):
    code: int | str | None = None
    message: str | None = None


class Span(_Strict):
    traceId: str | None = None  # noqa: N815
    spanId: str | None = None  # noqa: N815
    parentSpanId: str | None = None  # noqa: N815
    traceState: str | None = None  # noqa: N815
    flags: int | None = None
    name: str | None = None
    kind: int | str | None = None
    startTimeUnixNano: int | str | None = None  # noqa: N815
    endTimeUnixNano: int | str | None = None  # noqa: N815
    attributes: list[KeyValue] = []
    droppedAttributesCount: int | None = None  # noqa: N815
    events: list[Event] = []
    droppedEventsCount: int | None = None  # noqa: N815
    links: list[Link] = []
    droppedLinksCount: int | None = None  # noqa: N815
    status: Status | None = None


class Scope(_Strict):
    name: str | None = None
    version: str | None = None
    attributes: list[KeyValue] = []
    droppedAttributesCount: int | None = None  # noqa: N815


class ScopeSpans(_Strict):
    scope: Scope | None = None
    spans: list[Span] = []
    schemaUrl: str | None = None  # noqa: N815


class Resource(_Strict):
    attributes: list[KeyValue] = []
    droppedAttributesCount: int | None = None  # noqa: N815


class ResourceSpans(_Strict):
    resource: Resource | None = None
    scopeSpans: list[ScopeSpans] = []  # noqa: N815
    schemaUrl: str | None = None  # noqa: N815


class TraceRequest(_Strict):
    resourceSpans: list[ResourceSpans]  # noqa: N815


_DECODER = msgspec.json.Decoder(TraceRequest)


def decode_trace_request(line: bytes) -> TraceRequest | None:
    """The line as a spec-shaped trace export request, or None when it is anything else."""
    try:
        return _DECODER.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None  # nested deeper than the interpreter recurses: the dict reader refuses it with a reason


def as_json_value(value: msgspec.Struct) -> Any:
    """A struct back as the plain JSON value the dict reader would have seen."""
    return msgspec.to_builtins(value)


def encode(value: msgspec.Struct) -> bytes:
    return msgspec.json.encode(value)


def typed_attributes(items: list[KeyValue]) -> dict[str, Any]:
    """The same dict :func:`~eval_pipelines.parsing.otlp_values.attributes` makes of the same list."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = item.key, item.value
        if key is None:
            continue
        if value is None:
            out[key] = None
        elif value.stringValue is not None:
            out[key] = value.stringValue
        else:
            out[key] = _typed_value(value)
    return out


def _typed_value(value: AnyValue) -> Any:
    for kind in ANY_VALUE_KINDS:
        inner = getattr(value, kind)
        if inner is not None:
            return any_value_of_kind(kind, inner)
    return None


def typed_spans(request: TraceRequest) -> Iterator[tuple[dict[str, Any], Span]]:
    """(resource attributes, span) pairs of a request: what
    :func:`~eval_pipelines.parsing.records.otlp_items` gives for a dict."""
    for group in request.resourceSpans:
        resource_attrs = typed_attributes(group.resource.attributes) if group.resource else {}
        for scope in group.scopeSpans:
            for span in scope.spans:
                yield resource_attrs, span


def typed_span_times(span: Span) -> tuple[int | None, int | None]:
    """What :func:`~eval_pipelines.parsing.records.span_times` gives for a dict."""
    start, end = to_int(span.startTimeUnixNano), to_int(span.endTimeUnixNano)
    return start, end if end is not None else start
