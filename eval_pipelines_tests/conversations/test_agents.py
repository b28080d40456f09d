import json
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from eval_pipelines.conversations.agents import (
    CALL_COLUMNS,
    TOOL_COLUMNS,
    build_agent_runs,
    declared_tools,
    tool_call_problem,
)
from eval_pipelines.schemas import AGENT_RUNS, TOOL_SPANS, TRACES

T0 = datetime(2026, 12, 4, 10, tzinfo=UTC)
LOOKUP = {"type": "object", "properties": {"order": {"type": "string", "pattern": "^#[0-9]+$"}},
          "required": ["order"], "additionalProperties": False}
GENAI_TOOLS = json.dumps([{"type": "function", "name": "lookup_order", "parameters": LOOKUP},
                          {"type": "function", "name": "refund"}])


def step(trace: str, second: float, tools: list[tuple[str, object]] = (), declared: str | None = GENAI_TOOLS,
         **fields) -> dict:
    at = T0 + timedelta(seconds=second)
    calls = [{"type": "tool_call", "id": f"c{n}", "name": name,
              "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}
             for n, (name, arguments) in enumerate(tools)]
    return {"span_id": f"{trace}-{second}", "trace_id": trace, "session_id": "s", "start_time": at,
            "end_time": at + timedelta(seconds=1), "route": "/orders", "prompt_version": "v7",
            "request_model": "m", "response_model": "m-1", "tool_calls": json.dumps(calls) if calls else None,
            "attributes": json.dumps({"gen_ai.tool.definitions": declared}) if declared else None,
            "status_code": "OK", "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.01, **fields}


def execution(trace: str, second: float, tool: str | None, error: str | None = None,
              duration_ms: float = 300.0) -> dict:
    return {"trace_id": trace, "start_time": T0 + timedelta(seconds=second), "duration_ms": duration_ms,
            "tool_name": tool, "status_code": "ERROR" if error else "UNSET", "error_type": error}


def runs(steps: list[dict], hour: int = 0, executions: list[dict] = ()) -> dict[str, dict]:
    table = pa.Table.from_pylist(steps, schema=pa.schema([TRACES.field(name) for name in CALL_COLUMNS]))
    tools = pa.Table.from_pylist(list(executions), schema=pa.schema([TOOL_SPANS.field(name) for name in TOOL_COLUMNS]))
    start = T0 + timedelta(hours=hour)
    with duckdb.connect() as con:
        built = build_agent_runs(con, table, tools, start, start + timedelta(hours=1))
    assert built.schema == AGENT_RUNS
    return {row["trace_id"]: row for row in built.to_pylist()}


def test_a_run_counts_its_steps_tools_loops_and_cost_and_single_answers_are_not_runs():
    found = runs([step("agent", 0, [("lookup_order", {"order": "#12"})]),
                  step("agent", 2, [("lookup_order", {"order": "#12"})]),
                  step("agent", 4, [("lookup_order", {"order": "#13"})], status_code="ERROR"),
                  step("agent", 6),
                  step("chat", 0)])
    assert list(found) == ["agent"]
    run = found["agent"]
    assert (run["steps"], run["tool_calls"], run["tools"], run["loops"]) == (4, 3, ["lookup_order"], 1)
    assert (run["errors"], run["tokens"], run["declared_tools"], run["invalid_tool_calls"]) == (1, 480, 2, 0)
    assert run["duration_s"] == 7.0 and run["cost_usd"] == pytest.approx(0.04)


def test_a_runs_tool_executions_count_their_errors_time_and_tools():
    found = runs([step("agent", 0, [("lookup_order", {"order": "#12"})]), step("agent", 3),
                  step("quiet", 0, [("lookup_order", {"order": "#1"})])],
                 executions=[execution("agent", 1, "lookup_order", "TimeoutError", 1500),
                             execution("agent", 2, "crm_search"), execution("agent", 2.5, None, "ValueError"),
                             execution("elsewhere", 1, "lookup_order", "KeyError")])
    run = found["agent"]
    assert (run["tool_executions"], run["tool_errors"], run["tool_time_s"]) == (3, 2, 2.1)
    assert run["tool_error_messages"] == ["lookup_order: TimeoutError", "(unnamed): ValueError"]
    assert run["tools"] == ["crm_search", "lookup_order"]
    assert (found["quiet"]["tool_executions"], found["quiet"]["tool_errors"],
            found["quiet"]["tool_error_messages"]) == (0, 0, [])


def test_a_single_call_whose_trace_executed_a_tool_is_a_run():
    """Instrumentations that leave message content out still show the tool spans."""
    found = runs([step("agent", 0), step("chat", 0)], executions=[execution("agent", 1, "lookup_order")])
    assert list(found) == ["agent"] and found["agent"]["steps"] == 1


def test_tool_calls_that_break_the_declared_tools_are_named_with_the_reason():
    run = runs([step("a", 0, [("lookup_order", {"order": 12}), ("lookup_order", {}), ("cancel", {}),
                              ("lookup_order", "{not json"), ("refund", {"anything": True})])])["a"]
    assert run["invalid_tool_calls"] == 4
    problems = run["tool_call_problems"]
    assert problems[0].startswith("lookup_order: 12 is not of type") and "required" in problems[1]
    assert problems[2:] == ["cancel: not a declared tool", "lookup_order: arguments are not JSON"]


def test_tools_declared_by_each_convention_are_read():
    openinference = json.dumps({"llm.tools.0.tool.json_schema": json.dumps(
        {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}})})
    vercel = json.dumps({"ai.prompt.tools": [json.dumps({"type": "function", "name": "weather",
                                                         "inputSchema": {"type": "object"}})]})
    assert declared_tools(openinference) == {"search": {"type": "object"}}
    assert declared_tools(vercel) == {"weather": {"type": "object"}}
    assert declared_tools(json.dumps({"gen_ai.tool.definitions": GENAI_TOOLS})) == {"lookup_order": LOOKUP,
                                                                                   "refund": None}


@pytest.mark.parametrize("attributes", [None, "", "[]", "{", json.dumps({"gen_ai.tool.definitions": "{{"}),
                                        json.dumps({"gen_ai.tool.definitions": [1, None, {"name": 3}]}),
                                        "[" * 100_000])
def test_hostile_tool_definitions_declare_nothing(attributes):
    assert declared_tools(attributes) == {}


def test_hostile_schemas_and_arguments_are_problems_not_crashes():
    assert tool_call_problem({"name": "x", "arguments": "{}"}, {"x": {"type": "no-such-type"}}) == \
        "x: its declared schema is not valid JSON Schema"
    assert tool_call_problem({"name": "x", "arguments": "[" * 50_000 + "]" * 50_000}, {"x": {}}) == \
        "x: arguments are not JSON"
    assert tool_call_problem({"name": "x", "arguments": json.dumps({"a": "b" * 200_000})}, {"x": {}}) == \
        "x: arguments are not JSON"
    assert tool_call_problem({"name": "x", "arguments": "{}"}, {}) is None, "nothing declared: nothing to check"


def test_a_run_belongs_to_the_hour_of_its_first_call_and_keeps_its_steps_after_the_hour():
    steps = [step("late", 3590, [("refund", {})]), step("late", 3610), step("next", 3605, [("refund", {})])]
    assert runs(steps, 0)["late"]["steps"] == 2
    assert list(runs(steps, 1)) == ["next"]
