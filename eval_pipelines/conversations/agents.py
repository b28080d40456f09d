"""``agent_runs`` rows: traces whose model took several steps or called tools, one row per trace in the hour its
first call started.

Read from the LLM calls of the trace and its tool executions (``tool_spans``: how many, which failed and why, the
time spent in tools). From the calls: the steps, the tools the model called (``tool_calls``), loops (the same tool
called again with the same arguments) and tool-call validity against the tools the request declared
(``gen_ai.tool.definitions``, OpenInference's ``llm.tools.<i>.tool.json_schema``, the Vercel AI SDK's
``ai.prompt.tools``): the name must be declared and the arguments must parse and validate against its schema.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from functools import lru_cache
from typing import Any

import duckdb
import jsonschema_rs
import pyarrow as pa

from eval_pipelines.schemas import AGENT_RUNS

TOOL_COLUMNS = ["trace_id", "start_time", "duration_ms", "tool_name", "status_code", "error_type"]
CALL_COLUMNS = ["span_id", "trace_id", "session_id", "start_time", "end_time", "route", "prompt_version",
                "request_model", "response_model", "tool_calls", "attributes", "status_code", "input_tokens",
                "output_tokens", "cost_usd"]
MAX_ARGUMENT_CHARS = 100_000
MAX_PROBLEMS = 10

_RUNS_SQL = """
WITH runs AS (
    SELECT trace_id, min(start_time) AS first_time, max(coalesce(end_time, start_time)) AS last_time,
           count(*) AS steps, count(*) FILTER (status_code = 'ERROR') AS errors,
           sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))::BIGINT AS tokens, sum(cost_usd) AS cost_usd,
           arg_min(session_id, start_time) AS session_id, arg_min(route, start_time) AS route,
           arg_min(prompt_version, start_time) AS prompt_version, arg_min(request_model, start_time) AS request_model,
           arg_min(response_model, start_time) AS response_model,
           count(*) FILTER (coalesce(tool_calls, '[]') NOT IN ('', '[]', 'null')) AS calls_with_tools
    FROM agent_calls GROUP BY trace_id),
tools AS (
    SELECT trace_id, count(*) AS tool_executions, count(*) FILTER (status_code = 'ERROR') AS tool_errors,
           coalesce(list(coalesce(tool_name, '(unnamed)') || ': ' || coalesce(error_type, 'error') ORDER BY start_time)
                    FILTER (status_code = 'ERROR'), [])[1:{max_problems}] AS tool_error_messages,
           sum(coalesce(duration_ms, 0)) / 1000 AS tool_time_s,
           list(DISTINCT tool_name) FILTER (tool_name IS NOT NULL) AS executed_tools
    FROM agent_tools GROUP BY trace_id)
SELECT runs.*, coalesce(tool_executions, 0) AS tool_executions, coalesce(tool_errors, 0) AS tool_errors,
       coalesce(tool_error_messages, []) AS tool_error_messages, coalesce(tool_time_s, 0) AS tool_time_s,
       coalesce(executed_tools, []) AS executed_tools
FROM runs LEFT JOIN tools USING (trace_id)
WHERE first_time >= $start AND first_time < $end AND (steps > 1 OR calls_with_tools > 0 OR tool_executions > 0)
ORDER BY first_time, trace_id
"""


def build_agent_runs(con: duckdb.DuckDBPyConnection, calls: pa.Table, tools: pa.Table, start: datetime,
                     end: datetime) -> pa.Table:
    """The agent runs starting in ``[start, end)``, from the calls and tool executions of that hour and the next
    (schema ``AGENT_RUNS``)."""
    con.register("agent_calls", calls.select(CALL_COLUMNS))
    con.register("agent_tools", tools.select(TOOL_COLUMNS))
    runs = con.sql(_RUNS_SQL.format(max_problems=MAX_PROBLEMS),
                   params={"start": start, "end": end}).to_arrow_table().to_pylist()
    if not runs:
        return AGENT_RUNS.empty_table()
    steps = con.sql("""
        SELECT trace_id, tool_calls, attributes FROM agent_calls
        WHERE trace_id IN (SELECT unnest($traces)) ORDER BY trace_id, start_time, span_id""",
                    params={"traces": [run["trace_id"] for run in runs]}).to_arrow_table().to_pylist()
    by_trace: dict[str, list[dict]] = {}
    for step in steps:
        by_trace.setdefault(step["trace_id"], []).append(step)
    rows = [_run_row(run, tool_use(by_trace.get(run["trace_id"], []))) for run in runs]
    return pa.Table.from_pylist(rows, schema=AGENT_RUNS)


def _run_row(run: dict[str, Any], use: dict[str, Any]) -> dict[str, Any]:
    """A run's row: the tools it used are those the model called and those executed."""
    executed = run.pop("executed_tools")
    return {**run, **use, "tools": sorted(set(use["tools"]) | set(executed)),
            "duration_s": (run["last_time"] - run["first_time"]).total_seconds()}


def tool_use(steps: list[dict]) -> dict[str, Any]:
    """The tools a run's steps called, its loops and the calls that break the declared tools."""
    declared: dict[str, Any] = {}
    calls: list[dict] = []
    for step in steps:
        declared |= declared_tools(step["attributes"])
        calls += tool_calls_of(step["tool_calls"])
    seen = Counter((call.get("name"), _canonical(call.get("arguments"))) for call in calls)
    problems = [problem for call in calls if (problem := tool_call_problem(call, declared))]
    return {"tool_calls": len(calls), "tools": sorted({str(call.get("name")) for call in calls}),
            "loops": sum(count - 1 for count in seen.values()), "declared_tools": len(declared),
            "invalid_tool_calls": len(problems), "tool_call_problems": problems[:MAX_PROBLEMS]}


def tool_calls_of(text: str | None) -> list[dict]:
    """The tool calls a call's ``tool_calls`` column holds (none where it is not a JSON list of objects)."""
    try:
        calls = json.loads(text) if text else []
    except (ValueError, RecursionError):
        return []
    return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []


def _canonical(arguments: Any) -> str:
    parsed = _arguments(arguments)
    return json.dumps(parsed, sort_keys=True) if not isinstance(parsed, _Unparsable) else str(arguments)


class _Unparsable(str):
    """Arguments that are not JSON (the model's text as given)."""


def _arguments(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments if arguments is not None else {}
    if len(arguments) > MAX_ARGUMENT_CHARS:
        return _Unparsable(arguments[:100])
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        return _Unparsable(arguments)


def tool_call_problem(call: dict, declared: dict[str, Any]) -> str | None:
    """Why a tool call breaks the declared tools (``None`` when it does not, or when none were declared)."""
    name = str(call.get("name"))
    arguments = _arguments(call.get("arguments"))
    if isinstance(arguments, _Unparsable):
        return f"{name}: arguments are not JSON"
    if not declared:
        return None
    if name not in declared:
        return f"{name}: not a declared tool"
    schema = declared[name]
    if not isinstance(schema, dict):
        return None
    validator = _validator(json.dumps(schema, sort_keys=True))
    if validator is None:
        return f"{name}: its declared schema is not valid JSON Schema"
    error = next(iter(validator.iter_errors(arguments)), None)
    return f"{name}: {error.message[:200]}" if error is not None else None


@lru_cache(maxsize=256)
def _validator(schema: str) -> Any:
    """A declared schema compiled once, however many calls and runs use it (``None`` when it is not valid)."""
    try:
        return jsonschema_rs.validator_for(json.loads(schema))
    except (jsonschema_rs.ValidationError, ValueError):
        return None


def declared_tools(attributes: str | None) -> dict[str, Any]:
    """The tools a call declared, by name, with their parameters' JSON Schema (``None`` when not given)."""
    try:
        values = json.loads(attributes) if attributes else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(values, dict):
        return {}
    definitions: list[Any] = []
    for key, value in values.items():
        if key in ("gen_ai.tool.definitions", "ai.prompt.tools"):
            definitions += _json_list(value)
        elif key.startswith("llm.tools.") and key.endswith(".tool.json_schema"):
            definitions.append(_json_value(value))
    return dict(tool for definition in definitions if (tool := _tool(definition)))


def _json_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _json_list(value: Any) -> list[Any]:
    parsed = _json_value(value)
    items = parsed if isinstance(parsed, list) else [parsed]
    return [_json_value(item) for item in items]


def _tool(definition: Any) -> tuple[str, Any] | None:
    """(name, parameters) of one definition: OpenAI's ``{"type": "function", "function": {...}}`` or flat."""
    if not isinstance(definition, dict):
        return None
    body = definition.get("function") if isinstance(definition.get("function"), dict) else definition
    name = body.get("name")
    if not isinstance(name, str):
        return None
    return name, body.get("parameters", body.get("inputSchema"))

