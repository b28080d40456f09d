from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from eval_pipelines.feedback import build_user_feedback, load_feedback_settings
from eval_pipelines.schemas import FEEDBACK_EVENTS, PROGRAMMATIC_SCORES, TRACES

HOUR = datetime(2026, 11, 21, 14, tzinfo=UTC)


def call(span_id, at, question="Where is my order 123?", session="s1", trace=None, response_id=None, **fields):
    return {"span_id": span_id, "trace_id": trace or f"t-{span_id}", "start_time": at, "session_id": session,
            "response_id": response_id, "input_text": question, "route": "/orders", "prompt_version": "v7",
            "user_id": "u1", **fields}


def table(rows, schema):
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


def event(feedback_id, at=HOUR + timedelta(minutes=30), **fields):
    return {"feedback_id": feedback_id, "observed_time": at, "kind": "thumbs", "label": "down", "score": 0.0,
            "source": "feedback_file", "source_file": "feedback/x.jsonl", "source_line": 1, **fields}


def failed(span_id, evaluator="refusal"):
    return {"span_id": span_id, "evaluator": evaluator, "passed": False}


@pytest.fixture
def build():
    def run(calls, events=(), scores=(), **implicit):
        settings = load_feedback_settings()
        settings = settings.model_copy(update={"implicit": settings.implicit.model_copy(update=implicit)})
        traces = table(calls, TRACES)
        with duckdb.connect() as con:
            return build_user_feedback(con, table(list(events), FEEDBACK_EVENTS), traces, traces,
                                       table(list(scores), PROGRAMMATIC_SCORES), HOUR, HOUR + timedelta(hours=1),
                                       settings)
    return run


def rows_by(built, key="feedback_id"):
    return {row[key]: row for row in built.rows.to_pylist()}


def test_explicit_feedback_links_by_response_then_span_then_trace(build):
    calls = [call("a1", HOUR, trace="T", response_id="r-a1"), call("a2", HOUR + timedelta(seconds=5), trace="T"),
             call("b", HOUR + timedelta(minutes=1), response_id="r-b")]
    events = [event("by-response", response_id="r-b", span_id="a1"), event("by-span", span_id="a1"),
              event("by-trace", trace_id="T", span_id="app-span"), event("lost", response_id="r-gone"),
              event("none-match", span_id="zz", trace_id="YY")]
    built = build(calls, events)
    linked = rows_by(built)
    assert (linked["by-response"]["span_id"], linked["by-response"]["linked_by"]) == ("b", "response_id")
    assert (linked["by-span"]["span_id"], linked["by-span"]["linked_by"]) == ("a1", "span_id")
    assert (linked["by-trace"]["span_id"], linked["by-trace"]["linked_by"]) == ("a2", "trace_id")
    assert linked["by-span"]["route"] == "/orders" and linked["by-span"]["response_time"] == HOUR
    reasons = {row["feedback_id"]: row["reason"] for row in built.quarantine.to_pylist()}
    assert reasons == {"lost": "no LLM call with response_id r-gone in the traces of the lookback window",
                       "none-match": "no LLM call with span_id zz or trace_id YY in the traces of the lookback window"}


def test_regeneration_and_rephrase_are_observed_at_the_follow_up(build):
    calls = [call("q1", HOUR + timedelta(minutes=1), "Where is my order 123?"),
             call("q2", HOUR + timedelta(minutes=1, seconds=20), "where is my ORDER 123"),
             call("q3", HOUR + timedelta(minutes=3), "Where is order 123 now?"),
             call("q4", HOUR + timedelta(minutes=30), "How do I return a lamp?")]
    signals = rows_by(build(calls), "span_id")
    assert (signals["q1"]["kind"], signals["q1"]["explanation"]) == (
        "regeneration", "same question asked again 20 s later")
    assert signals["q1"]["observed_time"] == HOUR + timedelta(minutes=1, seconds=20)
    assert (signals["q2"]["kind"], signals["q2"]["explanation"]) == (
        "rephrase", "question rephrased 100 s later (word overlap 0.67)")
    assert "q3" not in signals  # the next question is about something else, 27 minutes later


def test_abandonment_needs_a_failed_check_and_silence(build):
    calls = [call("left", HOUR + timedelta(minutes=5), session="A"),
             call("stayed", HOUR + timedelta(minutes=5), session="B"),
             call("next", HOUR + timedelta(minutes=6), "Thanks, and my invoice?", session="B"),
             call("fine", HOUR + timedelta(minutes=5), session="C"),
             call("too-late", HOUR + timedelta(minutes=55), session="D")]
    scores = [failed("left"), failed("stayed"), failed("too-late"), failed("fine", "latency_budget")]
    signals = rows_by(build(calls, scores=scores), "span_id")
    assert signals["left"]["kind"] == "abandonment"
    assert signals["left"]["explanation"] == "session ended after an answer that failed refusal"
    assert signals["left"]["observed_time"] == HOUR + timedelta(minutes=15)
    assert "stayed" not in signals and "fine" not in signals
    assert "too-late" not in signals  # observable only at 15:05, in the next hour's partition


def test_a_signal_of_the_previous_hour_is_not_counted_again(build):
    earlier = HOUR - timedelta(minutes=10)
    calls = [call("x1", earlier, "Where is my order 123?"), call("x2", earlier + timedelta(seconds=30),
                                                               "Where is my order 123?")]
    assert build(calls).rows.num_rows == 0


def test_sessions_without_ids_and_empty_questions_give_no_signals(build):
    calls = [call("n1", HOUR, "", session=None), call("n2", HOUR + timedelta(seconds=5), "", session=None),
             call("e1", HOUR, "", session="E"), call("e2", HOUR + timedelta(seconds=5), "", session="E")]
    assert build(calls).rows.num_rows == 0
