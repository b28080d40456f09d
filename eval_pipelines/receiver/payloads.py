"""What a request carries: an OTLP export request for one signal, in protobuf or JSON, checked item by item.

An item whose ids the OTLP specification forbids (a span without a 16-byte trace id and an 8-byte span id,
a log record with a trace id of the wrong length) is rejected and reported back to the client as
``partial_success``; the rest is accepted. A body that is not an export request at all is refused whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from eval_pipelines.parsing.files import REPLACED_TEXT_WARNING, json_value

PROTOBUF, JSON = "protobuf", "json"
_HEX_ID = {16: re.compile(r"[0-9a-fA-F]{32}"), 8: re.compile(r"[0-9a-fA-F]{16}")}


class PayloadKind(IntEnum):
    """How a payload is stored in the spool (one byte of its frame)."""

    TRACES_PROTOBUF = 1
    LOGS_PROTOBUF = 2
    TRACES_JSON = 3
    LOGS_JSON = 4

    @classmethod
    def of(cls, signal: str, encoding: str) -> PayloadKind:
        return cls[f"{signal.upper()}_{encoding.upper()}"]

    @property
    def signal(self) -> str:
        return self.name.split("_")[0].lower()

    @property
    def encoding(self) -> str:
        return self.name.split("_")[1].lower()


@dataclass(frozen=True)
class Signal:
    name: str
    request: type[Message]
    response: type[Message]
    partial_success: type[Message]
    groups: str
    scopes: str
    items: str
    rejected_field: str

    def json_key(self, field: str) -> str:
        head, *rest = getattr(self, field).split("_")
        return head + "".join(word.title() for word in rest)


SIGNALS = {
    "traces": Signal("traces", ExportTraceServiceRequest, ExportTraceServiceResponse, ExportTracePartialSuccess,
                     "resource_spans", "scope_spans", "spans", "rejected_spans"),
    "logs": Signal("logs", ExportLogsServiceRequest, ExportLogsServiceResponse, ExportLogsPartialSuccess,
                   "resource_logs", "scope_logs", "log_records", "rejected_log_records"),
}


class BadPayload(ValueError):
    """The body is not an export request of the signal; the message says what is wrong."""


@dataclass(frozen=True)
class Accepted:
    kind: PayloadKind
    payload: bytes
    items: int
    rejected: int = 0
    rejection: str = ""


def accept(signal: str, encoding: str, body: bytes) -> Accepted:
    """Parse and check ``body``; raises :class:`BadPayload` when it cannot be read at all."""
    kind = PayloadKind.of(signal, encoding)
    return _accept_protobuf(SIGNALS[signal], kind, body) if encoding == PROTOBUF else _accept_json(
        SIGNALS[signal], kind, body)


_ZERO_TRACE_ID, _ZERO_SPAN_ID = bytes(16), bytes(8)


def _protobuf_span_problem(span: Any) -> str | None:
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:  # bytes compared in C: this runs for every span
        return "a span's trace id is not 16 bytes (or is all zero)"
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        return "a span's span id is not 8 bytes (or is all zero)"
    return None


def _protobuf_log_record_problem(record: Any) -> str | None:
    if len(record.trace_id) not in (0, 16):
        return "a log record's trace id is not 16 bytes"
    if len(record.span_id) not in (0, 8):
        return "a log record's span id is not 8 bytes"
    return None


def _accept_protobuf(signal: Signal, kind: PayloadKind, body: bytes) -> Accepted:
    try:
        message = signal.request.FromString(body)
    except (DecodeError, RecursionError, ValueError) as error:
        raise BadPayload(f"the body is not a protobuf {signal.request.__name__}: {error}") from None
    problem_of = _protobuf_span_problem if signal.name == "traces" else _protobuf_log_record_problem
    items = rejected = 0
    reasons: set[str] = set()
    for group in getattr(message, signal.groups):
        for scope in getattr(group, signal.scopes):
            entries = getattr(scope, signal.items)
            problems = list(map(problem_of, entries))
            items += len(entries)
            if any(problems):
                kept = [item for item, problem in zip(entries, problems, strict=True) if problem is None]
                reasons.update(problem for problem in problems if problem)
                rejected += len(entries) - len(kept)
                del entries[:]
                entries.extend(kept)
    payload = message.SerializeToString() if rejected else body
    return Accepted(kind, payload, items - rejected, rejected, "; ".join(sorted(reasons)))


def _json_list(parent: dict[str, Any], signal: Signal, field: str, where: str) -> list[Any]:
    """The list under the OTLP/JSON key of ``field`` (or its protobuf name, which some writers use)."""
    camel = signal.json_key(field)
    value = parent.get(camel, parent.get(getattr(signal, field), []))
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise BadPayload(f"{where}.{camel} is not a list of objects")
    return value


def _json_item_problem(signal: Signal, item: dict[str, Any]) -> str | None:
    trace_id, span_id = item.get("traceId", item.get("trace_id")), item.get("spanId", item.get("span_id"))
    required = signal.name == "traces"
    for name, value, size in (("trace id", trace_id, 16), ("span id", span_id, 8)):
        if value in (None, "") and not required:
            continue
        if isinstance(value, str) and _HEX_ID[size].fullmatch(value) and value.strip("0"):
            continue
        return f"a {'span' if required else 'log record'}'s {name} is not {2 * size} hex digits (or is all zero)"
    return None


def _accept_json(signal: Signal, kind: PayloadKind, body: bytes) -> Accepted:
    try:
        value, replaced_text = json_value(body)
    except ValueError as error:
        raise BadPayload(f"the body is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadPayload(f"the body is JSON but not an OTLP/JSON {signal.request.__name__} object")
    items = rejected = 0
    reasons: set[str] = set()
    groups_key, scopes_key, items_key = (signal.json_key(field) for field in ("groups", "scopes", "items"))
    for g, group in enumerate(_json_list(value, signal, "groups", "request")):
        for s, scope in enumerate(_json_list(group, signal, "scopes", f"{groups_key}[{g}]")):
            entries = _json_list(scope, signal, "items", f"{groups_key}[{g}].{scopes_key}[{s}]")
            problems = [_json_item_problem(signal, item) for item in entries]
            items += len(entries)
            if any(problems):
                scope[items_key] = [item for item, problem in zip(entries, problems, strict=True) if problem is None]
                reasons.update(problem for problem in problems if problem)
                rejected += sum(problem is not None for problem in problems)
    # One line per request in the landing file: compact JSON has no raw line breaks.
    if replaced_text:
        reasons.add(REPLACED_TEXT_WARNING)
    return Accepted(kind, orjson.dumps(value), items - rejected, rejected, "; ".join(sorted(reasons)))


def export_response(signal: str, encoding: str, accepted: Accepted) -> bytes:
    """The ``Export*ServiceResponse`` in the request's encoding, with ``partial_success`` when items were
    rejected or there is a warning (the specification's ``rejected_*`` = 0 with a message)."""
    spec = SIGNALS[signal]
    response = spec.response()
    if accepted.rejected or accepted.rejection:
        response.partial_success.CopyFrom(spec.partial_success(
            **{spec.rejected_field: accepted.rejected, "error_message": accepted.rejection}))
    return response.SerializeToString() if encoding == PROTOBUF else orjson.dumps(MessageToDict(response))


def error_status(code: int, message: str, encoding: str) -> bytes:
    """The body of an error response: a ``google.rpc.Status``, as the OTLP/HTTP specification asks."""
    status = status_pb2.Status(code=code, message=message)
    return status.SerializeToString() if encoding == PROTOBUF else orjson.dumps(MessageToDict(status))
