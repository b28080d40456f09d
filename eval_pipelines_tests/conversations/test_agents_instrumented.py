import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from eval_pipelines.conversations.agents import CALL_COLUMNS, build_agent_runs
from eval_pipelines.ingestion import build_hours
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.receiver.conftest import start_receiver

RUNS = 2


# opentelemetry-instrumentation-openai-v2 2.4b0 does not record the request's tools on the span: its runs are
# checked for JSON arguments only. OpenInference records them (llm.tools.<i>.tool.json_schema).
@pytest.mark.parametrize(("instrumentation", "declares"), [("genai", False), ("openinference", True)])
def test_a_tool_schema_changed_under_the_model_shows_as_invalid_tool_calls(home, index, settings, prices, con,
                                                                          instrumentation, declares):
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
    calls = pa.concat_tables([hour.traces for hour in built]).select(CALL_COLUMNS)
    runs = build_agent_runs(con, calls, datetime.fromtimestamp(first_hour * 3600, UTC),
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
