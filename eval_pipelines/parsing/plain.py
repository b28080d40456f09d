"""The plain JSONL record format, for teams without OpenTelemetry: one LLM call per line.

Required: ``start_time`` and at least one of ``input`` / ``output``. Everything else is optional;
see "Plain JSONL records" in docs/send-traces.md for every field. Ids that are absent are derived from
a hash of the record, so re-landing the same line adds nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from eval_pipelines.parsing import conventions as conv
from eval_pipelines.parsing import messages as msg
from eval_pipelines.parsing.otlp_values import to_int
from eval_pipelines.settings import REQUIRED_DIMENSIONS, IngestionSettings

PLAIN_FORMAT = "plain_jsonl"
_KNOWN = frozenset({
    "start_time", "end_time", "duration_ms", "input", "output", "system", "span_id", "trace_id",
    "parent_span_id", "session_id", "user_id", "service_name", "environment", "operation", "provider",
    "model", "request_model", "response_model", "response_id", "prompt_version", "route", "dimensions",
    "retrieved_context", "input_tokens", "output_tokens", "finish_reason", "finish_reasons", "status",
    "error_type", "params", "attributes", "tool_calls",
})


def epoch_ns(value: Any) -> int | None:
    """ISO-8601 text (naive means UTC) or a Unix epoch number in s, ms, µs or ns (by magnitude)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        magnitude = abs(value)
        scale = 1e9 if magnitude < 1e11 else 1e6 if magnitude < 1e14 else 1e3 if magnitude < 1e17 else 1
        return int(value * scale)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            number = to_int(value.strip())
            return epoch_ns(number) if number is not None else None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    return None


def plain_record_times(record: dict[str, Any]) -> tuple[int, int] | None:
    start = epoch_ns(record.get("start_time"))
    if start is None:
        return None
    end = epoch_ns(record.get("end_time"))
    if end is None:
        duration = record.get("duration_ms")
        end = start + int(duration * 1_000_000) if isinstance(duration, (int, float)) else start
    return start, end


def _derived_id(record: dict[str, Any], n_hex: int) -> str:
    return hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:n_hex]


def _id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    return text.lower() if all(c in "0123456789abcdefABCDEF" for c in text) else text


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else msg.dumps(value)


def _documents(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    docs = []
    for doc in value:
        if isinstance(doc, dict):
            docs.append({"id": _text(doc.get("id")), "content": _text(doc.get("content")),
                         "score": doc.get("score"), "metadata": doc.get("metadata")})
        else:
            docs.append({"id": None, "content": _text(doc), "score": None, "metadata": None})
    return docs or None


def _problem(record: dict[str, Any], earliest_ns: int) -> str | None:
    if "start_time" not in record:
        return "plain record without start_time"
    start = epoch_ns(record["start_time"])
    if start is None:
        return f"plain record with unreadable start_time: {str(record['start_time'])[:60]!r}"
    if start < earliest_ns:
        return "plain record starts before the lake's first hour (2025-01-01T00:00Z): clock skew?"
    if record.get("input") in (None, "") and record.get("output") in (None, ""):
        return "plain record without input or output"
    return None


def plain_record(record: dict[str, Any], settings: IngestionSettings, earliest_ns: int) -> dict[str, Any] | str:
    """The ``llm`` staging record of one plain record, or the reason it is quarantined."""
    problem = _problem(record, earliest_ns)
    if problem:
        return problem
    times = plain_record_times(record)
    assert times is not None
    start, end = times
    span_id = _id(record.get("span_id")) or _derived_id(record, 16)
    trace_id = _id(record.get("trace_id")) or span_id
    parent = _id(record.get("parent_span_id"))

    inputs = msg.normalize_messages(record.get("input"), "user")
    outputs = msg.normalize_messages(record.get("output"), "assistant")
    content_system, inputs, input_text = msg.read_inputs(inputs)
    output_text, tool_calls, finish_reasons = msg.read_outputs(outputs)
    system = "\n".join(s for s in (_text(record.get("system")), content_system) if s) or None
    finish = record.get("finish_reasons", record.get("finish_reason"))
    finish_list = [str(f) for f in (finish if isinstance(finish, list) else [finish]) if f is not None]
    dimensions = record.get("dimensions") if isinstance(record.get("dimensions"), dict) else {}
    lookups = {name: _text(record.get(name)) for name in (*REQUIRED_DIMENSIONS, "session_id", "user_id")}
    lookups.update({k: _text(v) for k, v in dimensions.items() if k in settings.extra_dimensions})
    extra = {k: v for k, v in record.items() if k not in _KNOWN}
    attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
    status = str(record.get("status") or "").upper()

    return {
        "span_id": span_id, "trace_id": trace_id, "parent_span_id": parent, "start_ns": start,
        "end_ns": end, "lookups": conv.positional(lookups, tuple(settings.lookup_keys())),
        "service_name": _text(record.get("service_name")),
        "environment": _text(record.get("environment")),
        "operation": _text(record.get("operation")) or "chat", "provider": _text(record.get("provider")),
        "request_model": _text(record.get("request_model") or record.get("model")),
        "response_model": _text(record.get("response_model") or record.get("model")),
        "response_id": _text(record.get("response_id")),
        "input_messages": msg.dumps(inputs), "output_messages": msg.dumps(outputs),
        "input_text": input_text, "output_text": output_text,
        "system_instructions": system,
        "tool_calls": msg.dumps(record.get("tool_calls") or tool_calls),
        "finish_reasons": finish_list or finish_reasons,
        "input_tokens": to_int(record.get("input_tokens")),
        "output_tokens": to_int(record.get("output_tokens")),
        "parse_warnings": [f"{name} is not an integer: {str(record[name])[:40]!r}"
                           for name in ("input_tokens", "output_tokens")
                           if record.get(name) is not None and to_int(record[name]) is None],
        "status_code": status if status in ("OK", "ERROR") else "UNSET",
        "error_type": _text(record.get("error_type")),
        "request_params": msg.dumps(record.get("params") if isinstance(record.get("params"), dict) else {}),
        "attributes": msg.dumps({**extra, **attributes}) if (extra or attributes) else None,
        "retrieved_context": msg.dumps(_documents(record.get("retrieved_context"))),
        "source_format": PLAIN_FORMAT,
    }
