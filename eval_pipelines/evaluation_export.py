"""Evaluation results as OpenTelemetry ``gen_ai.evaluation.result`` log-record events (OTLP/JSON).

Each judge verdict or programmatic score becomes one log record parented to the evaluated span
(``traceId``/``spanId``), named ``gen_ai.evaluation.result`` (as ``eventName`` and, for older
backends, the ``event.name`` attribute), with ``gen_ai.evaluation.name``, ``.score.value``,
``.score.label`` and ``.explanation``. The conventions have no field for the evaluator's version yet
(semantic-conventions-genai#79), so it travels as ``eval_pipelines.judge.version`` or
``eval_pipelines.evaluator.version``. Files are written the way the Collector's file exporter
writes them: one ``ExportLogsServiceRequest`` per line, so any OTLP/JSON reader can replay them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

EVENT_NAME = "gen_ai.evaluation.result"
RECORDS_PER_LINE = 1000
SCOPE = {"name": "eval_pipelines", "version": "0.1.0"}


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in values.items() if value is not None]


def _nanos(row: dict[str, Any], column: str) -> str:
    moment = row.get(column) or row["start_time"]
    return str(int(moment.timestamp() * 1_000_000) * 1000)


def judge_records(scores: pa.Table) -> Iterator[dict[str, Any]]:
    """One record per judgement that reached the endpoint (budget-skipped rows are not results)."""
    for row in scores.to_pylist():
        if row["status"] == "skipped_budget":
            continue
        yield _record(row, _nanos(row, "judged_at"), {
            "gen_ai.evaluation.name": row["rubric"],
            "gen_ai.evaluation.score.value": row["score"],
            "gen_ai.evaluation.score.label": row["label"],
            "gen_ai.evaluation.explanation": row["explanation"],
            "error.type": None if row["status"] == "ok" else row["status"],
            "eval_pipelines.judge.version": row["judge_version"],
            "eval_pipelines.judge.model": row["judge_model"],
            "eval_pipelines.rubric.version": row["rubric_version"],
            "eval_pipelines.evaluation.passed": row["passed"],
            "eval_pipelines.sample.inclusion_probability": row["inclusion_probability"],
        })


def programmatic_records(scores: pa.Table) -> Iterator[dict[str, Any]]:
    for row in scores.to_pylist():
        yield _record(row, _nanos(row, "start_time"), {
            "gen_ai.evaluation.name": row["evaluator"],
            "gen_ai.evaluation.score.value": row["score"],
            "gen_ai.evaluation.score.label": row["label"],
            "gen_ai.evaluation.explanation": row["explanation"],
            "eval_pipelines.evaluator.version": row["evaluator_version"],
            "eval_pipelines.evaluator.settings_hash": row["settings_hash"],
            "eval_pipelines.evaluation.passed": row["passed"],
        })


def _record(row: dict[str, Any], time_nanos: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"timeUnixNano": time_nanos, "observedTimeUnixNano": time_nanos, "eventName": EVENT_NAME,
            "traceId": row["trace_id"] or "", "spanId": row["span_id"],
            "attributes": _attributes({"event.name": EVENT_NAME, **attributes})}


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_otlp_logs(records: Iterable[dict[str, Any]], path: Path, service_name: str = "eval_pipelines") -> int:
    """Writes the records as OTLP/JSON export requests, one per line; returns how many records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    resource = {"attributes": _attributes({"service.name": service_name})}
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for chunk in _chunks(records, RECORDS_PER_LINE):
            request = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"scope": SCOPE, "logRecords": chunk}]}]}
            out.write(json.dumps(request, ensure_ascii=False) + "\n")
            written += len(chunk)
    return written
