"""Judging whole conversations and agent runs: the hour's closed sessions and agent runs as sampling units, the
hard cases among them, and what the judge reads of each.

A session or agent run is sampled exactly like a call (``sampling.draw_sample``): a stratum's rate comes from the
stratum sizes of the hour being built, and a unit is taken when its fixed draw falls below that rate, so its
inclusion probability is exactly the rate. A rebuilt hour (a late turn) may change a rate; its judged units keep
their cached verdicts.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from eval_pipelines.conversations.agents import tool_calls_of
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines.judge.prompts import JudgeItem
from eval_pipelines.judge.sampling import SampleDraw, draw_sample
from eval_pipelines.judge.settings import AgentRunSamplingSettings, SessionSamplingSettings
from eval_pipelines.lake import Lake
from eval_pipelines.parsing.messages import cut_text

# Why a unit is a hard case, as a condition on its row.
SESSION_HARD_CASES = {
    "escalated": "escalated",
    "frustrated": "len(frustration_markers) > 0",
    "repeated_question": "repeated_questions > 0",
    "failed_calls": "failed_calls > 0",
    "thumbs_down": "thumbs_down > 0",
    "abandoned": "abandoned",
}
AGENT_RUN_HARD_CASES = {"invalid_tool_calls": "invalid_tool_calls > 0", "loops": "loops > 0", "errors": "errors > 0"}
STEP_COLUMNS = ["trace_id", "start_time", "input_text", "output_text", "tool_calls", "status_code"]
TOOL_STEP_COLUMNS = ["trace_id", "start_time", "tool_name", "status_code", "error_type", "result"]
MAX_STEPS_SHOWN = 30
MAX_TOOL_RESULT_CHARS = 300


def draw_units(con: duckdb.DuckDBPyConnection, rows: pa.Table, unit: str,
               settings: SessionSamplingSettings | AgentRunSamplingSettings, seed: int, hour_start_us: int,
               now_us: int) -> SampleDraw:
    """The hour's sample of sessions (``unit="session"``) or agent runs (``"agent_run"``), hard cases first."""
    id_column, trace_column, time_column, conditions = (
        ("session_key", "NULL", "closed_at", SESSION_HARD_CASES) if unit == "session"
        else ("trace_id", "trace_id", "first_time", AGENT_RUN_HARD_CASES))
    con.register("_unit_rows", rows)
    units = con.sql(f"""
        SELECT {id_column} AS span_id, {trace_column}::VARCHAR AS trace_id, {time_column} AS start_time,
               route, prompt_version, request_model, response_model, NULL::VARCHAR AS service_name,
               NULL::VARCHAR AS environment, NULL::VARCHAR AS provider, 'unit' AS output_text,
               NULL::VARCHAR AS tool_calls
        FROM _unit_rows""").to_arrow_table()
    reasons = ", ".join(f"CASE WHEN {conditions[name]} THEN '{name}' END" for name in settings.hard_cases) or "NULL"
    hard = con.sql(f"""
        SELECT span_id, reasons FROM (
            SELECT {id_column} AS span_id, list_sort(list_filter([{reasons}], lambda r: r IS NOT NULL)) AS reasons
            FROM _unit_rows)
        WHERE len(reasons) > 0""").to_arrow_table()
    return draw_sample(con, units, hard, settings.sampling(seed), hour_start_us, None, now_us)


def session_item(row: dict[str, Any]) -> JudgeItem:
    """A session as the judge reads it: its transcript, one line per speaker's turn."""
    return JudgeItem(row["session_key"], transcript_text(row.get("transcript")), "", unit="session")


def transcript_text(transcript: str | None) -> str:
    """``User: …`` and ``Assistant: …`` lines from a session's stored transcript (JSON)."""
    try:
        turns = json.loads(transcript) if transcript else []
    except ValueError:
        return transcript or ""
    lines = []
    for turn in turns if isinstance(turns, list) else []:
        if not isinstance(turn, dict):
            continue
        if "omitted_turns" in turn:
            lines.append(f"[{turn['omitted_turns']} turns not shown]")
            continue
        lines += [f"User: {turn.get('user') or ''}", f"Assistant: {turn.get('assistant') or ''}"]
    return "\n".join(lines)


def with_last_answer(transcript: str, answer: str) -> str:
    """A transcript (:func:`transcript_text`) whose last assistant turn is ``answer`` (added when it has none)."""
    head, marker, _ = transcript.rpartition("Assistant: ")
    if marker and (not head or head.endswith("\n")):
        return f"{head}Assistant: {answer}"
    return f"{transcript}\nAssistant: {answer}".lstrip("\n")


def _by_trace(rows: pa.Table) -> dict[str, list[dict]]:
    by_trace: dict[str, list[dict]] = {}
    for row in sorted(rows.to_pylist(), key=lambda r: (r["trace_id"], r["start_time"])):
        by_trace.setdefault(row["trace_id"], []).append(row)
    return by_trace


def agent_run_items(trace_ids: list[str], calls: pa.Table, tools: pa.Table | None = None) -> dict[str, JudgeItem]:
    """Each run's request (its first call's input) and its steps with what its tools returned, by trace id."""
    steps = _by_trace(calls.select(STEP_COLUMNS))
    executions = _by_trace(tools.select(TOOL_STEP_COLUMNS)) if tools is not None else {}
    return {trace_id: JudgeItem(trace_id, (steps.get(trace_id) or [{}])[0].get("input_text") or "",
                                steps_text(steps.get(trace_id, []), executions.get(trace_id, [])), unit="agent_run")
            for trace_id in trace_ids}


def hour_agent_run_items(store: Lake, key: str, trace_ids: list[str]) -> dict[str, JudgeItem]:
    """:func:`agent_run_items` of runs that started in the hour ``key``, their steps read from that hour's and the
    next hour's calls and tool executions (as ``agent_runs`` reads them)."""
    if not trace_ids:
        return {}
    hours = [key, hour_key(hour_index(key) + 1)]
    return agent_run_items(trace_ids, store.read_columns("traces", "hour", hours, STEP_COLUMNS),
                           store.read_columns("tool_spans", "hour", hours, TOOL_STEP_COLUMNS))


def steps_text(calls: list[dict], executions: list[dict] = ()) -> str:
    """One line per model step: the tools it called with their arguments, or its answer; and any error. Under it,
    a line per tool executed before the next step: what it returned, or how it failed."""
    pending = list(executions)
    steps = []
    for number, call in enumerate(calls, start=1):
        actions = [f"called {tool.get('name')}({_arguments_text(tool.get('arguments'))})"
                   for tool in tool_calls_of(call.get("tool_calls"))]
        if call.get("output_text"):
            actions.append(f"answered: {call['output_text']}")
        if call.get("status_code") == "ERROR":
            actions.append("failed with an error")
        following = calls[number].get("start_time") if number < len(calls) else None
        steps.append([f"Step {number}: {'; '.join(actions) or 'no output'}",
                      *map(_tool_line, _executed_before(pending, following))])
    if len(steps) > MAX_STEPS_SHOWN:
        steps = [*steps[:MAX_STEPS_SHOWN // 2], [f"[{len(steps) - MAX_STEPS_SHOWN} steps not shown]"],
                 *steps[-MAX_STEPS_SHOWN // 2:]]
    return "\n".join(line for step in steps for line in step)


def _executed_before(pending: list[dict], moment: Any) -> list[dict]:
    """The tool executions of ``pending`` (in time order) that started before ``moment`` (all when ``None``),
    taken off it."""
    ran = []
    while pending and (moment is None or pending[0]["start_time"] < moment):
        ran.append(pending.pop(0))
    return ran


def _tool_line(execution: dict) -> str:
    name = execution.get("tool_name") or "a tool"
    if execution.get("status_code") == "ERROR":
        return f"  {name} failed: {execution.get('error_type') or 'error'}"
    return f"  {name} returned: {cut_text(execution.get('result') or '', MAX_TOOL_RESULT_CHARS)}"


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
