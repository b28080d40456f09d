"""Span and log exporters that write files the way the OpenTelemetry Collector's file exporter does.

One ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` per line, protobuf JSON mapping with
hex ids and integer enums (the OTLP/JSON rules). Demo traffic is produced in a minute but stamped
across a whole day, so every item is shifted by its trace's offset (simulated minus real start) and
written to the file of its simulated hour, as a Collector rotating files hourly would.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

HOUR_NS = 3_600_000_000_000
_TIME_KEYS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano")
_ID_KEYS = ("traceId", "spanId", "parentSpanId")


class TimeShift:
    """Offsets (simulated minus real time) per trace id, registered when a request starts."""

    def __init__(self) -> None:
        self._offsets: dict[str, int] = {}
        self._lock = threading.Lock()

    def register(self, trace_id: int, offset_ns: int) -> None:
        with self._lock:
            self._offsets[format(trace_id, "032x")] = offset_ns

    def offset(self, trace_id_hex: str) -> int:
        return self._offsets.get(trace_id_hex, 0)


def _hex(value: str) -> str:
    return base64.b64decode(value).hex() if value else value


class HourlyFiles:
    """Appends lines to ``<folder>/<date>/<hour>.jsonl`` by simulated hour; thread-safe."""

    def __init__(self, folder: Path, service: str) -> None:
        self.folder = folder
        self.service = service
        self._lock = threading.Lock()
        self.lines = 0

    def path_for(self, hour: int) -> Path:
        stamp = datetime.fromtimestamp(hour * 3600, tz=UTC)
        return self.folder / stamp.strftime("%Y-%m-%d") / f"{self.service}-{stamp:%H}.jsonl"

    def write(self, hour: int, line: bytes) -> None:
        path = self.path_for(hour)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as stream:
                stream.write(line + b"\n")
            self.lines += 1


def _shift(node: Any, offset: int) -> None:
    """Shift every timestamp of one span or log record (events included), in place; ids to hex."""
    for key in _ID_KEYS:
        if key in node:
            node[key] = _hex(node[key])
    for key in _TIME_KEYS:
        if key in node and node[key] not in ("0", 0):
            node[key] = str(int(node[key]) + offset)
    for event in node.get("events", []):
        _shift(event, offset)


_SIGNAL_KEYS = {
    "spans": ("resourceSpans", "scopeSpans", "spans", "startTimeUnixNano"),
    "logs": ("resourceLogs", "scopeLogs", "logRecords", "timeUnixNano"),
}


def write_by_hour(files: HourlyFiles, shift: TimeShift, request: dict[str, Any], signal: str) -> None:
    groups_key, scopes_key, items_key, time_key = _SIGNAL_KEYS[signal]
    for hour, part in _split_by_hour(request, groups_key, scopes_key, items_key, shift, time_key).items():
        files.write(hour, orjson.dumps(part))


def _split_by_hour(request: dict[str, Any], groups_key: str, scopes_key: str, items_key: str,
                   shift: TimeShift, time_key: str) -> dict[int, dict[str, Any]]:
    """One export request split into one request per simulated hour, with times shifted."""
    by_hour: dict[int, dict[str, Any]] = {}
    for group in request.get(groups_key, []):
        for scope in group.get(scopes_key, []):
            for item in scope.get(items_key, []):
                offset = shift.offset(_hex(item.get("traceId", "")))
                _shift(item, offset)
                hour = int(item.get(time_key) or item.get("observedTimeUnixNano")) // HOUR_NS
                out_group = by_hour.setdefault(hour, {groups_key: []})
                key = (id(group), id(scope))
                holder = out_group.setdefault("_index", {})
                if key not in holder:
                    new_scope = {k: v for k, v in scope.items() if k != items_key} | {items_key: []}
                    new_group = {k: v for k, v in group.items() if k != scopes_key} | {scopes_key: [new_scope]}
                    out_group[groups_key].append(new_group)
                    holder[key] = new_scope
                holder[key][items_key].append(item)
    for out in by_hour.values():
        out.pop("_index")
    return by_hour


class CollectorSpanExporter(SpanExporter):
    def __init__(self, files: HourlyFiles, shift: TimeShift) -> None:
        self.files, self.shift = files, shift

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        write_by_hour(self.files, self.shift, MessageToDict(encode_spans(spans), use_integers_for_enums=True),
                      "spans")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class CollectorLogExporter(LogRecordExporter):
    def __init__(self, files: HourlyFiles, shift: TimeShift) -> None:
        self.files, self.shift = files, shift

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        write_by_hour(self.files, self.shift, MessageToDict(encode_logs(batch), use_integers_for_enums=True),
                      "logs")
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass
