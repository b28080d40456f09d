import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from eval_pipelines.conversations.agents import CALL_COLUMNS, TOOL_COLUMNS, build_agent_runs
from eval_pipelines.ingestion import build_hours
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.receiver.conftest import start_receiver

RUNS = 2


# opentelemetry-instrumentation-openai-v2 2.4b0 does not record the request's tools on the span: its runs are
# checked for JSON arguments only. OpenInference records them (llm.tools.<i>.tool.json_schema).
@pytest.mark.parametrize(("instrumentation", "declares"), [("genai", False), ("openinference", True)])
def test_a_tool_schema_changed_under_the_model_shows_as_invalid_tool_calls_and_tool_errors(
        home, index, settings, prices, con, instrumentation, declares):
    receiver = start_receiver(home)
    first_hour = time.time_ns() // HOUR_NS
    environment = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.http_url,
                   "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    try:
        for tools in ("v1", "v2"):
            subprocess.run([sys.executable, "-m", "eval_pipelines_tests.conversations.agent_app", instrumentation,
                            tools, str(RUNS)], env=environment, check=True, capture_output=True, timeout=120)
    finally:
        receiver.stop()
    last_hour = time.time_ns() // HOUR_NS
    index.refresh()
    built = build_hours(index, first_hour, last_hour, settings, prices, con)
    built = list(built)
    calls = pa.concat_tables([hour.traces for hour in built]).select(CALL_COLUMNS)
    executions = pa.concat_tables([hour.tools for hour in built])
    runs = build_agent_runs(con, calls, executions.select(TOOL_COLUMNS), datetime.fromtimestamp(first_hour * 3600, UTC),
                            datetime.fromtimestamp((last_hour + 1) * 3600, UTC)).to_pylist()
    by_tools = {version: [run for run in runs if run["prompt_version"] == f"tools-{version}"]
                for version in ("v1", "v2")}
    assert [len(by_tools["v1"]), len(by_tools["v2"])] == [RUNS, RUNS]
    for run in runs:
        assert (run["steps"], run["tool_calls"], run["tools"], run["loops"]) == (2, 1, ["lookup_order"], 0)
        assert run["declared_tools"] == int(declares)
    assert all(run["invalid_tool_calls"] == 0 for run in by_tools["v1"] + ([] if declares else by_tools["v2"]))
    for run in by_tools["v2"] if declares else []:
        (problem,) = run["tool_call_problems"]
        assert run["invalid_tool_calls"] == 1 and problem.startswith("lookup_order: ")
        assert "order_id" in problem or "Additional properties" in problem
    for run in by_tools["v1"]:
        assert (run["tool_executions"], run["tool_errors"], run["tool_error_messages"]) == (1, 0, [])
    for run in by_tools["v2"]:
        assert (run["tool_executions"], run["tool_errors"]) == (1, 1)
        assert run["tool_error_messages"] == ["lookup_order: KeyError"]
    source = {"genai": "otel_genai", "openinference": "openinference"}[instrumentation]
    for execution in executions.to_pylist():
        assert (execution["tool_name"], execution["source_format"]) == ("lookup_order", source)
        assert json.loads(execution["arguments"]) == {"order": "#1042"} and execution["duration_ms"] >= 0
    failed = [execution for execution in executions.to_pylist() if execution["status_code"] == "ERROR"]
    assert len(failed) == RUNS and all(execution["result"] is None for execution in failed)
    assert sorted(execution["result"] for execution in executions.to_pylist()
                  if execution["status_code"] != "ERROR") == ['{"status": "shipped"}'] * RUNS
