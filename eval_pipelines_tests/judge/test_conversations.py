"""Sessions and agent runs as units the judge samples and reads."""

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from eval_pipelines.judge.conversations import (
    STEP_COLUMNS,
    TOOL_STEP_COLUMNS,
    agent_run_items,
    draw_units,
    session_item,
    steps_text,
    transcript_text,
)
from eval_pipelines.judge.prompts import JudgeItem, applicable, judge_messages
from eval_pipelines.judge.rubrics import load_rubrics
from eval_pipelines.judge.sampling import draw
from eval_pipelines.judge.settings import AgentRunSamplingSettings, SessionSamplingSettings
from eval_pipelines.schemas import AGENT_RUNS, SESSIONS, TOOL_SPANS, TRACES

HOUR = datetime(2026, 11, 21, 14, tzinfo=UTC)
HOUR_US = int(HOUR.timestamp() * 1e6)
CLOSED = HOUR_US + 3_600_000_001


def sessions(routes: dict[str, int], **flags) -> pa.Table:
    """Sessions closed over the hour on each route; ``flags`` sets a column on the first few, e.g.
    ``escalated=(True, 3)``."""
    rows = []
    for route, count in routes.items():
        for i in range(count):
            row = {"session_key": f"{route}-{i}", "route": route,
                   "closed_at": HOUR + timedelta(seconds=3599 * i / count), "turns": 1, "escalated": False,
                   "frustration_markers": [], "repeated_questions": 0, "failed_calls": 0, "thumbs_down": 0,
                   "abandoned": False}
            rows.append(row | {column: value for column, (value, first) in flags.items() if i < first})
    return pa.Table.from_pylist(rows, schema=SESSIONS)


def test_a_session_is_taken_exactly_when_its_draw_is_below_its_rate_and_the_weights_estimate_the_population(con):
    closed = sessions({"/chat": 500, "/orders": 100}, escalated=(True, 4))
    estimates = []
    for seed in range(200):
        drawn = draw_units(con, closed, "session", SessionSamplingSettings(per_hour=20), seed, HOUR_US, CLOSED)
        rates = dict(zip(drawn.rates.column("stratum").to_pylist(), drawn.rates.column("rate").to_pylist(),
                         strict=True))
        sample = drawn.sample.to_pylist()
        assert all(row["draw"] < row["inclusion_probability"] == rates[row["stratum"]] for row in sample)
        taken = {row["span_id"] for row in sample}
        regular = {key: rate for key, rate in rates.items() if "hard case" not in key}
        for key in closed.column("session_key").to_pylist():
            stratum = f"prompt_version=(none), route={key.rsplit('-', 1)[0]}"
            if key not in taken and int(key.rsplit("-", 1)[1]) >= 4:
                assert draw(seed, key) >= regular[stratum]
        hard = [row for row in sample if row["priority"]]
        assert len(hard) == 8 and all(row["priority_reasons"] == ["escalated"] for row in hard)
        assert all(row["inclusion_probability"] == 1.0 for row in hard)
        estimates.append(sum(1 / row["inclusion_probability"] for row in sample))
    assert sum(estimates) / len(estimates) == pytest.approx(600, rel=0.02)


def test_hard_cases_are_the_configured_reasons_only(con):
    closed = sessions({"/chat": 3}, escalated=(True, 1), thumbs_down=(2, 1), abandoned=(True, 2))
    drawn = draw_units(con, closed, "session", SessionSamplingSettings(hard_cases=["escalated", "thumbs_down"]), 0,
                       HOUR_US, CLOSED)
    reasons = {row["span_id"]: row["priority_reasons"] for row in drawn.sample.to_pylist()}
    assert reasons == {"/chat-0": ["escalated", "thumbs_down"], "/chat-1": [], "/chat-2": []}
    runs = pa.Table.from_pylist([{"trace_id": "t1", "first_time": HOUR, "route": "/agent", "loops": 2,
                                  "invalid_tool_calls": 0, "errors": 1}], schema=AGENT_RUNS)
    (run,) = draw_units(con, runs, "agent_run", AgentRunSamplingSettings(), 0, HOUR_US, CLOSED).sample.to_pylist()
    assert (run["span_id"], run["trace_id"], run["priority_reasons"]) == ("t1", "t1", ["errors", "loops"])


def test_the_judge_reads_a_session_as_its_conversation_and_an_agent_run_as_its_steps():
    rubrics = load_rubrics()
    transcript = json.dumps([{"user": "Cancel order 77.", "assistant": "Which order?"},
                             {"omitted_turns": 3}, {"user": "77!", "assistant": "Cancelled."}])
    item = session_item({"session_key": "s/1", "transcript": transcript})
    assert item.input == "User: Cancel order 77.\nAssistant: Which order?\n[3 turns not shown]\nUser: 77!\n" \
                         "Assistant: Cancelled."
    last = judge_messages(rubrics["conversation_resolution"], item, 12_000)[-1]["content"]
    assert "[Conversation]\nUser: Cancel order 77." in last and "[Assistant output]" not in last
    call = JudgeItem("span", "question", "answer")
    assert applicable(rubrics["conversation_resolution"], item) and not applicable(rubrics["helpfulness"], item)
    assert applicable(rubrics["helpfulness"], call) and not applicable(rubrics["conversation_resolution"], call)

    calls = TRACES.empty_table().select(["trace_id", "start_time", "input_text", "output_text", "tool_calls",
                                          "status_code"]).to_pylist() + [
        {"trace_id": "t1", "start_time": HOUR, "input_text": "Where is order 7?", "output_text": None,
         "tool_calls": json.dumps([{"name": "lookup_order", "arguments": {"order": "7"}}]), "status_code": "OK"},
        {"trace_id": "t1", "start_time": HOUR + timedelta(seconds=1), "input_text": "…", "output_text": "It ships.",
         "tool_calls": None, "status_code": "OK"}]
    table = pa.Table.from_pylist(calls, schema=TRACES.empty_table().select(list(calls[0])).schema)
    (run,) = agent_run_items(["t1"], table).values()
    assert (run.input, run.unit) == ("Where is order 7?", "agent_run")
    assert run.output == 'Step 1: called lookup_order({"order": "7"})\nStep 2: answered: It ships.'
    assert "[Agent steps]\nStep 1" in judge_messages(rubrics["agent_trajectory"], run, 12_000)[-1]["content"]


@pytest.mark.parametrize("transcript", [None, "", "not json", '{"user": "x"}', '["a", 1, null]', "[[[[]]]]",
                                        '[{"omitted_turns": 2}]', '[{"user": null, "assistant": 5}]'])
def test_a_malformed_transcript_is_read_as_far_as_it_goes(transcript):
    assert isinstance(transcript_text(transcript), str)


def test_what_each_tool_returned_or_how_it_failed_follows_the_step_that_called_it():
    calls = [{"trace_id": "t", "start_time": HOUR, "tool_calls": json.dumps([
                 {"name": "lookup_order", "arguments": {"order": "7"}}, {"name": "crm", "arguments": {}}])},
             {"trace_id": "t", "start_time": HOUR + timedelta(seconds=5), "output_text": "It ships."}]
    executions = [
        {"trace_id": "t", "start_time": HOUR + timedelta(seconds=1), "tool_name": "lookup_order", "status_code": "OK",
         "error_type": None, "result": '{"status": "shipped"}'},
        {"trace_id": "t", "start_time": HOUR + timedelta(seconds=2), "tool_name": "crm", "status_code": "ERROR",
         "error_type": "TimeoutError", "result": None},
        {"trace_id": "t", "start_time": HOUR + timedelta(seconds=6), "tool_name": None, "status_code": "UNSET",
         "error_type": None, "result": "x" * 400}]
    assert steps_text(calls, executions).splitlines() == [
        'Step 1: called lookup_order({"order": "7"}); called crm({})', '  lookup_order returned: {"status": "shipped"}',
        "  crm failed: TimeoutError", "Step 2: answered: It ships.",
        "  a tool returned: " + "x" * 300 + "… [100 more characters]"]
    table = pa.Table.from_pylist([{**call, "input_text": "Where is 7?", "status_code": "OK"} for call in calls],
                                 schema=TRACES.empty_table().select(STEP_COLUMNS).schema)
    tools = pa.Table.from_pylist(executions, schema=TOOL_SPANS.empty_table().select(TOOL_STEP_COLUMNS).schema)
    (run,) = agent_run_items(["t"], table, tools).values()
    assert (run.input, run.output) == ("Where is 7?", steps_text(calls, executions))


def test_a_long_run_shows_its_first_and_last_steps_and_says_how_many_were_left_out():
    calls = [{"tool_calls": json.dumps([{"name": "search", "arguments": f'{{"page": {i}}}'}])} for i in range(40)]
    lines = steps_text(calls).splitlines()
    assert lines[0] == 'Step 1: called search({"page": 0})' and lines[-1] == 'Step 40: called search({"page": 39})'
    assert "[10 steps not shown]" in lines and len(lines) == 31
