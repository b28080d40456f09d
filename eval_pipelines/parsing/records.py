"""From parsed documents (OTLP requests or plain records) to canonical staging records.

Five kinds of record leave here, each a plain dict whose keys match a staging schema in
:mod:`eval_pipelines.schemas`: ``llm`` (one LLM call starting in the window, before tree resolution),
``tree`` (every other span's ids, times and the lookup values it carries, for resolving dimensions up
the tree; an ``llm`` row carries the same for its own span), ``tool`` (a tool's execution starting in the
window; it has a ``tree`` row too), ``event`` (log-record events carrying content, joined to their span later)
and ``quarantine``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import orjson

from eval_pipelines.parsing import conventions as conv
from eval_pipelines.parsing import messages as msg
from eval_pipelines.parsing.feedback import (
    FEEDBACK_EVENT,
    feedback_from_event,
    feedback_from_record,
    feedback_time,
    is_feedback_file,
)
from eval_pipelines.parsing.files import REPLACED_TEXT_WARNING, Document, truncate_raw
from eval_pipelines.parsing.otlp_typed import (
    Status,
    TraceRequest,
    as_json_value,
    encode,
    typed_attributes,
    typed_span_times,
    typed_spans,
)
from eval_pipelines.parsing.otlp_values import (
    STATUS_CODES,
    any_value,
    attributes,
    enum_name,
    field,
    otel_id,
    to_int,
)
from eval_pipelines.parsing.plain import PLAIN_FORMAT, plain_record, plain_record_times
from eval_pipelines.settings import IngestionSettings

HOUR_NS = 3_600_000_000_000
EVENT_SLACK_NS = HOUR_NS
# The lake's first hour (the hourly partitions start here): older timestamps are quarantined.
LAKE_START_NS = 1_735_689_600 * 1_000_000_000  # 2025-01-01T00:00:00Z
_TREE_FROM_LLM = ("trace_id", "span_id", "parent_span_id", "start_ns", "lookups", "source_file", "source_line")


class RecordSink(Protocol):
    def add(self, kind: str, record: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Window:
    """Half-open time window ``[start_ns, end_ns)`` being assembled."""

    start_ns: int
    end_ns: int

    def contains(self, t_ns: int) -> bool:
        return self.start_ns <= t_ns < self.end_ns

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        return start_ns < self.end_ns and end_ns >= self.start_ns

    def near(self, t_ns: int) -> bool:
        return self.start_ns - EVENT_SLACK_NS <= t_ns < self.end_ns + EVENT_SLACK_NS


_GROUP_KEYS = {"spans": ("resourceSpans", "resource_spans"), "logs": ("resourceLogs", "resource_logs")}
_SCOPE_KEYS = {
    "spans": (("scopeSpans", "scope_spans"), ("instrumentationLibrarySpans", "instrumentation_library_spans")),
    "logs": (("scopeLogs", "scope_logs"), ("instrumentationLibraryLogs", "instrumentation_library_logs")),
}
_ITEM_KEYS = {"spans": ("spans", "spans"), "logs": ("logRecords", "log_records")}


def _listed(value: Any, name: str, problems: list[str] | None) -> list[Any]:
    """``value`` if it is a list, else nothing; with ``problems``, notes why it (or an entry of it) cannot be
    read."""
    if isinstance(value, list):
        if problems is not None and not all(isinstance(entry, dict) for entry in value):
            problems.append(f"an entry of {name} is not a JSON object")
        return value
    if value is not None and problems is not None:
        problems.append(f"{name} is not a list")
    return []


def _scope_items(group: dict[str, Any], signal: str, problems: list[str] | None) -> Iterator[dict[str, Any]]:
    item_keys = _ITEM_KEYS[signal]
    for keys in _SCOPE_KEYS[signal]:
        for scope in _listed(field(group, *keys), keys[0], problems):
            if isinstance(scope, dict):
                for item in _listed(field(scope, *item_keys), item_keys[0], problems):
                    if isinstance(item, dict):
                        yield item


def is_otlp_request(value: Any) -> bool:
    return isinstance(value, dict) and any(
        k in value for k in ("resourceSpans", "resource_spans", "resourceLogs", "resource_logs"))


def otlp_items(value: dict[str, Any], signal: str,
               problems: list[str] | None = None) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource attributes, span or log record) pairs of one OTLP export request. The parts whose structure
    cannot be read are skipped, and with ``problems`` noted there."""
    keys = _GROUP_KEYS[signal]
    for group in _listed(field(value, *keys), keys[0], problems):
        if not isinstance(group, dict):
            continue
        resource = group.get("resource") if isinstance(group.get("resource"), dict) else {}
        resource_attrs = attributes(resource.get("attributes"))
        for item in _scope_items(group, signal, problems):
            yield resource_attrs, item


def span_times(span: dict[str, Any]) -> tuple[int | None, int | None]:
    start = to_int(field(span, "startTimeUnixNano", "start_time_unix_nano"))
    end = to_int(field(span, "endTimeUnixNano", "end_time_unix_nano"))
    return start, end if end is not None else start


def log_time(record: dict[str, Any]) -> int | None:
    time_ns = to_int(field(record, "timeUnixNano", "time_unix_nano"))
    if not time_ns:
        time_ns = to_int(field(record, "observedTimeUnixNano", "observed_time_unix_nano"))
    return time_ns or None


def _dated_spans(times: Iterable[tuple[int | None, int | None]]) -> Iterator[tuple[int, int]]:
    for start, end in times:
        if start and start >= LAKE_START_NS:
            yield start, max(end or start, start)


def document_times(document: Document, latest_ns: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of every dated item of a document that starts by ``latest_ns``: the same reading the
    extractor does (it quarantines the later ones)."""
    for start, end in _document_times(document):
        if latest_ns is None or start <= latest_ns:
            yield start, end


def _document_times(document: Document) -> Iterator[tuple[int, int]]:
    value = document.value
    if document.error is not None:
        return
    if isinstance(value, TraceRequest):
        yield from _dated_spans(typed_span_times(span) for _, span in typed_spans(value))
    elif is_otlp_request(value):
        yield from _dated_spans(span_times(span) for _, span in otlp_items(value, "spans"))
        for _, record in otlp_items(value, "logs"):
            time_ns = log_time(record)
            if time_ns and time_ns >= LAKE_START_NS:
                yield time_ns, time_ns
    elif isinstance(value, dict):
        times = plain_record_times(value)
        if times is None and (at := feedback_time(value)) is not None:
            times = (at, at)
        if times is not None and times[0] >= LAKE_START_NS:
            yield times[0], max(times)


class _Span(NamedTuple):
    """One span as both readers (dict and typed) hand it over: ids decoded, the rest still raw."""

    span_id: str | None
    trace_id: str | None
    parent_span_id: Any
    start: int | None
    end: int | None
    attributes: Any
    decode_attributes: Callable[[Any], dict[str, Any]]
    events: list[tuple[str, int | None, dict[str, Any]]]
    status_code: Any
    status_message: Any
    raw: Callable[[], bytes]
    kind: Any


class _SpanPlan(NamedTuple):
    """What a span's attribute keys alone decide for the extractor, worked out once per distinct key set
    (one memo lookup per span instead of one per use)."""

    lookups: conv.LookupPlan
    lookups_off_server: conv.LookupPlan
    environment: conv.LookupPlan
    llm: conv.LlmKeys


_NO_STATUS = Status()


class Extractor:
    """Turns the documents of one source file into staging records for one time window."""

    def __init__(self, settings: IngestionSettings, source_file: str, window: Window,
                 with_quarantine: bool, landed_ns: int | None = None) -> None:
        self.settings = settings
        self.landed_ns = landed_ns
        self.latest_ns = None if landed_ns is None else landed_ns + settings.future_skew_ns
        self.lookups = conv.Lookups(settings.lookup_keys())
        self.environment = conv.Lookups({"environment": settings.environment})
        self._plans = conv.ByKeySet(self._span_plan)
        self.source_file = source_file
        self.window = window
        self.with_quarantine = with_quarantine
        self.feedback_file = is_feedback_file(source_file)
        self._resource: tuple[dict[str, Any], str | None, str | None] = ({}, None, None)

    def _span_plan(self, keys: tuple[str, ...]) -> _SpanPlan:
        return _SpanPlan(self.lookups.plan(keys), self.lookups.plan(keys, server_span=False),
                         self.environment.plan(keys), conv.llm_keys(keys))

    def quarantine(self, sink: RecordSink, line: int, reason: str, raw: bytes | str,
                   source_format: str | None = None) -> None:
        if self.with_quarantine:
            sink.add("quarantine", {"source_file": self.source_file, "source_line": line,
                                    "reason": reason, "raw": truncate_raw(raw),
                                    "source_format": source_format})

    def extract(self, document: Document, sink: RecordSink) -> None:
        if document.error is not None:
            self.quarantine(sink, document.line, document.error, document.raw)
            return
        try:
            self._extract_value(document, sink)
        except RecursionError:
            self.quarantine(sink, document.line, "values nested too deeply to read", document.raw)

    def _extract_value(self, document: Document, sink: RecordSink) -> None:
        value = document.value
        if self.feedback_file:
            self._feedback_line(document, as_json_value(value) if isinstance(value, TraceRequest) else value, sink)
        elif isinstance(value, TraceRequest):
            self._typed_spans(document, value, sink)
        elif is_otlp_request(value):
            problems: list[str] = []
            self._otlp_spans(document, value, sink, problems)
            self._otlp_logs(document, value, sink, problems)
            if problems:
                self.quarantine(sink, document.line, "; ".join(sorted(set(problems))), document.raw, "otlp")
        elif isinstance(value, dict):
            record = plain_record(value, self.settings, LAKE_START_NS)
            if isinstance(record, dict) and (late := self._too_late(record["start_ns"])):
                record = f"record {late}"
            if isinstance(record, str):
                self.quarantine(sink, document.line, record, document.raw, PLAIN_FORMAT)
            else:
                record.update(source_file=self.source_file, source_line=document.line)
                self._add_llm_call(sink, record)
        else:
            self.quarantine(sink, document.line,
                            "not an OTLP export request or a plain record: expected a JSON object",
                            document.raw)

    def _feedback_line(self, document: Document, value: Any, sink: RecordSink) -> None:
        record = (feedback_from_record(value) if isinstance(value, dict)
                  else "a feedback line must be a JSON object")
        self._add_feedback(sink, document, record)

    def _add_feedback(self, sink: RecordSink, document: Document, record: dict[str, Any] | str) -> None:
        if isinstance(record, dict) and record["time_ns"] < LAKE_START_NS:
            record = "feedback dated before the lake's first hour (2025-01-01T00:00Z): clock skew?"
        if isinstance(record, str):
            self.quarantine(sink, document.line, record, document.raw, "feedback")
        elif self.window.contains(record["time_ns"]):
            sink.add("feedback", {**record, "source_file": self.source_file, "source_line": document.line})

    def _too_late(self, start_ns: int) -> str | None:
        if self.latest_ns is None or self.landed_ns is None or start_ns <= self.latest_ns:
            return None
        return (f"starts {(start_ns - self.landed_ns) / HOUR_NS:,.1f} h after its file landed (more than "
                f"max_future_skew_hours = {self.settings.max_future_skew_hours:g}): clock skew?")

    def _add_llm_call(self, sink: RecordSink, llm: dict[str, Any]) -> None:
        """An LLM call is an ``llm`` row when it starts in the window; when it only overlaps the window,
        its ``tree`` row is still needed: calls made under it look up their dimensions through it. One that
        ends before it starts keeps its times as sent, with a warning (its duration is left empty)."""
        if llm["end_ns"] < llm["start_ns"]:
            llm["parse_warnings"].append(f"ends {(llm['start_ns'] - llm['end_ns']) / 1e6:,.0f} ms before it starts")
        if self.window.contains(llm["start_ns"]):
            sink.add("llm", llm)
        elif self.window.overlaps(llm["start_ns"], max(llm["start_ns"], llm["end_ns"])):
            sink.add("tree", {**{name: llm[name] for name in _TREE_FROM_LLM}, "documents": None})

    def _otlp_spans(self, document: Document, value: dict[str, Any], sink: RecordSink,
                    problems: list[str]) -> None:
        for resource_attrs, span in otlp_items(value, "spans", problems):
            start, end = span_times(span)
            events = [(str(e.get("name", "")), to_int(field(e, "timeUnixNano", "time_unix_nano")),
                       attributes(e.get("attributes"))) for e in span.get("events") or [] if isinstance(e, dict)]
            status = span.get("status") if isinstance(span.get("status"), dict) else {}
            self._extract_span(document, sink, _Span(
                otel_id(field(span, "spanId", "span_id"), 8), otel_id(field(span, "traceId", "trace_id"), 16),
                field(span, "parentSpanId", "parent_span_id"), start, end, span.get("attributes"), attributes,
                events, status.get("code"), status.get("message"), lambda span=span: orjson.dumps(span, default=str),
                span.get("kind")), resource_attrs)

    def _typed_spans(self, document: Document, request: TraceRequest, sink: RecordSink) -> None:
        """The same as :meth:`_otlp_spans`, over a spec-shaped request decoded into structs."""
        for resource_attrs, span in typed_spans(request):
            start, end = typed_span_times(span)
            events = [(event.name or "", to_int(event.timeUnixNano), typed_attributes(event.attributes))
                      for event in span.events] if span.events else []
            status = span.status or _NO_STATUS
            self._extract_span(document, sink, _Span(
                otel_id(span.spanId, 8), otel_id(span.traceId, 16), span.parentSpanId, start, end,
                span.attributes, typed_attributes, events, status.code, status.message,
                lambda span=span: encode(span), span.kind), resource_attrs)

    def _extract_span(self, document: Document, sink: RecordSink, span: _Span, resource_attrs: dict[str, Any]) -> None:
        span_id, trace_id, start = span.span_id, span.trace_id, span.start
        problem = ("span without a valid spanId" if span_id is None else
                   "span without a valid traceId" if trace_id is None else
                   "span without a valid startTimeUnixNano" if not start else
                   "span starts before the lake's first hour (2025-01-01T00:00Z): clock skew?"
                   if start < LAKE_START_NS else
                   f"span {late}" if (late := self._too_late(start)) else None)
        if problem:
            self.quarantine(sink, document.line, problem, span.raw(), "otlp")
            return
        assert start is not None and span_id is not None and trace_id is not None
        end = span.end or start
        for name, time_ns, attrs in span.events:
            if name == FEEDBACK_EVENT:
                self._add_feedback(sink, document, feedback_from_event(
                    attrs, time_ns or max(start, end), span_id, trace_id, "trace_event"))
        if not self.window.overlaps(start, max(start, end)):
            return
        attrs = span.decode_attributes(span.attributes)
        role = conv.span_role(attrs)
        parent = otel_id(span.parent_span_id, 8)
        plan: _SpanPlan = self._plans.of(attrs)
        lookups = self.lookups.values(attrs, plan.lookups if conv.is_server_span(span.kind)
                                      else plan.lookups_off_server)
        if role == "llm":
            self._add_llm_call(sink, self._llm_row(document, resource_attrs, span, attrs, plan, parent, end, lookups))
            return
        if role == "tool" and self.window.contains(start):
            sink.add("tool", self._tool_row(document, resource_attrs, span, attrs, parent, end))
        documents = msg.dumps(conv.retrieval_documents(attrs)) if role == "retrieval" else None
        sink.add("tree", {
            "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "start_ns": start,
            "lookups": lookups, "documents": documents,
            "source_file": self.source_file, "source_line": document.line,
        })

    def _llm_row(self, document: Document, resource_attrs: dict[str, Any], span: _Span, attrs: dict[str, Any],
                 plan: _SpanPlan, parent: str | None, end: int, lookups: list[str | None] | None) -> dict[str, Any]:
        events = [(name, event_attrs) for name, _, event_attrs in span.events]
        row = conv.llm_fields(attrs, events, plan.llm)
        service_name, resource_environment = self._resource_fields(resource_attrs)
        status_code = _status_code(span)
        row["error_type"] = _error_type(row["error_type"], events, span, status_code)
        if document.replaced_invalid_text:
            row["parse_warnings"].append(REPLACED_TEXT_WARNING)
        row.update(
            span_id=span.span_id, trace_id=span.trace_id, parent_span_id=parent, start_ns=span.start, end_ns=end,
            status_code=status_code, service_name=service_name,
            environment=_first_value(self.environment.values(attrs, plan.environment)) or resource_environment,
            retrieved_context=None, lookups=lookups, source_file=self.source_file, source_line=document.line,
        )
        return row

    def _tool_row(self, document: Document, resource_attrs: dict[str, Any], span: _Span, attrs: dict[str, Any],
                  parent: str | None, end: int) -> dict[str, Any]:
        row = conv.tool_fields(attrs)
        status_code = _status_code(span)
        row["error_type"] = _error_type(row["error_type"], [(name, event_attrs) for name, _, event_attrs
                                                            in span.events], span, status_code)
        row.update(span_id=span.span_id, trace_id=span.trace_id, parent_span_id=parent, start_ns=span.start,
                   end_ns=end, status_code=status_code, service_name=self._resource_fields(resource_attrs)[0],
                   source_file=self.source_file, source_line=document.line)
        return row

    def _resource_fields(self, resource_attrs: dict[str, Any]) -> tuple[str | None, str | None]:
        """(service name, environment) of a span's resource: read once for all of its spans (the spans of
        one resource share one attributes dict, which the memo holds, so its identity cannot be reused)."""
        if resource_attrs is not self._resource[0]:
            self._resource = (resource_attrs, _text_or_none(resource_attrs.get("service.name")),
                              _first_value(self.environment.values(resource_attrs)))
        return self._resource[1:]

    def _otlp_logs(self, document: Document, value: dict[str, Any], sink: RecordSink,
                   problems: list[str]) -> None:
        for seq, (_, record) in enumerate(otlp_items(value, "logs", problems)):
            attrs = attributes(record.get("attributes"))
            name = field(record, "eventName", "event_name") or attrs.get("event.name")
            if name == FEEDBACK_EVENT:
                self._add_feedback(sink, document, feedback_from_event(
                    attrs, log_time(record), otel_id(field(record, "spanId", "span_id"), 8),
                    otel_id(field(record, "traceId", "trace_id"), 16), "log_event"))
                continue
            if name not in conv.MESSAGE_EVENTS and name != conv.DETAILS_EVENT:
                continue
            trace_id = otel_id(field(record, "traceId", "trace_id"), 16)
            span_id = otel_id(field(record, "spanId", "span_id"), 8)
            time_ns = log_time(record)
            if trace_id is None or span_id is None or time_ns is None:
                self.quarantine(sink, document.line,
                                f"{name} log record without a valid traceId, spanId or time",
                                orjson.dumps(record, default=str), "otlp")
                continue
            if not self.window.near(time_ns):
                continue
            body = any_value(record.get("body"))
            payload = {**attrs, **body} if isinstance(body, dict) else attrs
            if name == conv.DETAILS_EVENT:
                content = conv.Content()
                content.fill_from_details(payload)
                event = {"input_messages": msg.dumps(content.input_messages),
                         "output_messages": msg.dumps(content.output_messages),
                         "system_instructions": content.system, "message": None, "role": None}
            else:
                message = conv.event_message(name, payload)
                event = {"message": msg.dumps(message), "role": message["role"] if message else None,
                         "input_messages": None, "output_messages": None, "system_instructions": None}
            sink.add("event", {**event, "trace_id": trace_id, "span_id": span_id, "time_ns": time_ns,
                               "seq": document.line * 100_000 + seq, "name": name,
                               "source_file": self.source_file})


def _status_code(span: _Span) -> str:
    code = span.status_code
    return "UNSET" if code is None else enum_name(code, STATUS_CODES, "STATUS_CODE_") or "UNSET"


def _error_type(given: str | None, events: list[tuple[str, dict[str, Any]]], span: _Span,
                status_code: str) -> str | None:
    """The span's ``error.type``, else its exception event's type, else the message of its error status."""
    return given or conv.error_type_from_events(events) or (
        _text_or_none(span.status_message) if status_code == "ERROR" else None)


def _first_value(values: list[str | None] | None) -> str | None:
    return values[0] if values else None


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
