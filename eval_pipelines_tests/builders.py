"""Builders of OTLP/JSON export requests and plain records for tests (test data, not project code)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOUR = datetime(2026, 11, 21, 14, tzinfo=UTC)
HOUR_KEY = "2026-11-21-14:00"
T0 = int(HOUR.timestamp()) * 1_000_000_000


def value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": value(x)} for k, x in v.items()]}}
    return {"stringValue": v}


def attrs(**kwargs: Any) -> list[dict[str, Any]]:
    return [{"key": k.replace("__", "."), "value": value(v)} for k, v in kwargs.items()]


def kv(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": value(v)} for k, v in mapping.items()]


def span(span_id: str, trace_id: str = "ab" * 16, parent: str | None = None, start_s: float = 60.0,
         duration_s: float = 1.0, attributes: dict[str, Any] | None = None, name: str = "span",
         events: list[dict[str, Any]] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    start = T0 + int(start_s * 1e9)
    out: dict[str, Any] = {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 3,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + int(duration_s * 1e9)),
        "attributes": kv(attributes or {}), "status": status or {},
    }
    if parent:
        out["parentSpanId"] = parent
    if events:
        out["events"] = events
    return out


def latest_llm_attributes(question: str = "Where is my order?", answer: str = "It ships today.",
                          **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500, "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.input.messages": json.dumps([
            {"role": "system", "parts": [{"type": "text", "content": "Be nice."}]},
            {"role": "user", "parts": [{"type": "text", "content": question}]}]),
        "gen_ai.output.messages": json.dumps([
            {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]),
        **extra,
    }


def traces_request(*spans: dict[str, Any], service: str = "support") -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": kv({"service.name": service})},
                               "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}]}]}


def logs_request(*records: dict[str, Any]) -> dict[str, Any]:
    return {"resourceLogs": [{"resource": {"attributes": kv({"service.name": "support"})},
                              "scopeLogs": [{"scope": {"name": "test"}, "logRecords": list(records)}]}]}


def log_event(name: str, body: Any, span_id: str, trace_id: str = "ab" * 16, at_s: float = 60.5,
              as_attribute: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {"timeUnixNano": str(T0 + int(at_s * 1e9)), "traceId": trace_id, "spanId": span_id,
                              "body": value(body), "attributes": kv({"event.name": name} if as_attribute else {})}
    if not as_attribute:
        record["eventName"] = name
    return record


def write_lines(path: Path, *documents: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as stream:
        for document in documents:
            stream.write(document if isinstance(document, bytes) else json.dumps(document).encode())
            stream.write(b"\n")
    return path
