"""The demo's and ``eval-pipelines inspect``'s summary of a lake."""

from datetime import UTC, datetime

import pyarrow as pa

from eval_pipelines.inspection import format_summary, summarize
from eval_pipelines.lake import Lake
from eval_pipelines.schemas import AGENT_RUNS, TABLES, TRACES

HOUR = datetime(2026, 12, 5, 11, tzinfo=UTC)
KEY = "2026-12-05-11:00"


def run(trace_id: str, steps: int, loops: int = 0, invalid: int = 0, executions: int = 0, errors: int = 0) -> dict:
    return {"trace_id": trace_id, "first_time": HOUR, "steps": steps, "loops": loops, "invalid_tool_calls": invalid,
            "tool_executions": executions, "tool_errors": errors}


def lake_with_runs(folder, runs: list[dict]) -> Lake:
    """An hour with one call, nothing quarantined or validated, and these agent runs."""
    lake = Lake(folder)
    lake.write_partition("traces", "hour", KEY, pa.Table.from_pylist(
        [{"span_id": "s", "trace_id": "t", "start_time": HOUR}], schema=TRACES))
    for table in ("trace_quarantine", "trace_validation"):
        lake.write_partition(table, "hour", KEY, TABLES[table].schema.empty_table())
    lake.write_partition("agent_runs", "hour", KEY, pa.Table.from_pylist(runs, schema=AGENT_RUNS))
    return lake


def test_agent_runs_are_summed_up_with_the_share_of_tool_executions_that_failed(tmp_path, con):
    lake = lake_with_runs(tmp_path, [run("a", 2, executions=1), run("b", 4, loops=2, executions=3, errors=1),
                                     run("c", 3, invalid=1)])
    text = format_summary(summarize(lake, con))
    assert ("agent runs: 3, 3.0 steps on average; looping 33.3%, breaking the declared tools 33.3%; "
            "4 tool executions, 25.0% failed") in text.splitlines()


def test_runs_without_tool_spans_say_so(tmp_path, con):
    lake = lake_with_runs(tmp_path, [run("a", 2)])
    assert "0 tool executions, none recorded" in format_summary(summarize(lake, con))
