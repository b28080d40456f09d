import json
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from eval_pipelines.conversations.sessions import CALL_COLUMNS, build_sessions
from eval_pipelines.conversations.settings import ConversationSettings, load_conversation_settings
from eval_pipelines.schemas import SESSIONS, TRACES

T0 = datetime(2026, 12, 4, 10, tzinfo=UTC)
SETTINGS = load_conversation_settings()


def call(session: str, minute: float, question: str = "Where is my order?", answer: str = "On its way.",
         trace: str | None = None, span: str | None = None, **fields) -> dict:
    at = T0 + timedelta(minutes=minute)
    trace = trace or f"{session}-{minute}"
    return {"span_id": span or f"s-{trace}", "trace_id": trace, "session_id": session, "user_id": "u1",
            "start_time": at, "end_time": at + timedelta(seconds=2), "route": "/orders", "prompt_version": "v1",
            "request_model": "m", "response_model": "m-1", "input_text": question, "output_text": answer,
            "tool_calls": None, "status_code": "OK", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.001,
            **fields}


def calls_table(rows: list[dict]) -> pa.Table:
    schema = pa.schema([TRACES.field(name) for name in CALL_COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema)


def sessions(rows: list[dict], hour: int, settings: ConversationSettings = SETTINGS, scores=None, feedback=None,
             now: datetime | None = None) -> list[dict]:
    start = T0 + timedelta(hours=hour)
    end = start + timedelta(hours=1)
    visible = [row for row in rows if row["start_time"] < end]
    with duckdb.connect() as con:
        table = build_sessions(con, calls_table(visible), scores, feedback, start, end, now or end + timedelta(days=1),
                               settings)
    assert table.schema == SESSIONS
    return table.to_pylist()


def test_a_session_closes_idle_minutes_after_its_last_turn_in_that_hour():
    rows = [call("a", 5), call("a", 20), call("a", 40)]
    assert sessions(rows, 0) == []  # 10:40 + 30 min closes at 11:10+
    [closed] = sessions(rows, 1)
    assert closed["turns"] == 3 and closed["session_id"] == "a"
    assert closed["closed_at"] == T0 + timedelta(minutes=40, seconds=2) + timedelta(minutes=30)
    assert closed["first_time"] == T0 + timedelta(minutes=5)
    assert [turn["user"] for turn in json.loads(closed["transcript"])] == ["Where is my order?"] * 3


@pytest.mark.parametrize("marker", ['{"session_end": "true"}', '{"session_end": "1"}', '{"session_end": "True"}'])
def test_a_turn_the_app_marks_as_the_end_closes_its_session_at_its_answer(marker):
    rows = [call("a", 5), call("a", 10, dimensions=marker), call("a", 15, question="Something else?")]
    ended, idle = sessions(rows, 0) + sessions(rows, 1)
    assert (ended["turns"], ended["ended_explicitly"], idle["turns"], idle["ended_explicitly"]) == (2, True, 1, False)
    assert ended["closed_at"] == T0 + timedelta(minutes=10, seconds=2)
    assert idle["closed_at"] == T0 + timedelta(minutes=15, seconds=2, hours=0) + timedelta(minutes=30)
    # Without an end dimension, or with a marker that is not true, the idle time alone closes the session.
    settings = SETTINGS.model_copy(update={"end_dimension": None})
    assert [s["turns"] for s in sessions(rows, 0, settings) + sessions(rows, 1, settings)] == [3]
    rows[1]["dimensions"] = '{"session_end": "no"}'
    assert [s["turns"] for s in sessions(rows, 0) + sessions(rows, 1)] == [3]


def test_a_turn_after_the_idle_time_starts_a_new_session_with_its_own_key():
    rows = [call("a", 0), call("a", 29), call("a", 61)]  # 29 min after an answer, then 31
    first, second = sessions(rows, 0) + sessions(rows, 1) + sessions(rows, 2)
    assert (first["turns"], second["turns"]) == (2, 1)
    assert first["session_key"] != second["session_key"]
    assert {s["session_key"].split("/")[0] for s in (first, second)} == {"a"}


def test_a_late_turn_moves_the_session_to_the_hour_it_now_closes_in_and_is_counted_once():
    before = [call("a", 10)]
    assert [s["turns"] for s in sessions(before, 0)] == [1]
    late = [*before, call("a", 35)]
    assert sessions(late, 0) == []
    assert [s["turns"] for s in sessions(late, 1)] == [2]


def test_a_session_not_closed_by_now_waits():
    rows = [call("a", 10)]
    assert sessions(rows, 0, now=T0 + timedelta(minutes=30)) == []
    assert len(sessions(rows, 0, now=T0 + timedelta(minutes=41))) == 1


def test_calls_of_one_trace_are_one_turn_and_agent_steps_count_as_calls():
    rows = [call("a", 1, trace="t1", span="p1", question="Refund order 7?", answer=None),
            call("a", 1.2, trace="t1", span="p2", question="tool result", answer="Refunded.")]
    [closed] = sessions(rows, 0)
    assert (closed["turns"], closed["calls"]) == (1, 2)
    assert json.loads(closed["transcript"])[0] | {"at": None} == {"at": None, "user": "Refund order 7?",
                                                                   "assistant": "Refunded."}


def test_escalation_frustration_and_repeated_questions_are_read_from_user_turns():
    tools = json.dumps([{"type": "tool_call", "id": "c", "name": "transfer_to_agent", "arguments": "{}"}])
    rows = [call("a", 1, question="Where is my order 12?"),
            call("a", 3, question="Where is my order 12??"),
            call("a", 5, question="This is USELESS, I want to talk to a human"),
            call("b", 1, question="Wo ist meine Bestellung?", tool_calls=tools),
            call("c", 1, question="Hola")]
    by_id = {s["session_id"]: s for s in sessions(rows, 0)}
    assert by_id["a"]["escalated"] and by_id["a"]["escalation"] == "talk to a human"
    assert by_id["a"]["frustration_markers"] == ["this is useless"]
    assert by_id["a"]["repeated_questions"] == 1
    assert by_id["b"]["escalated"] and by_id["b"]["escalation"] == "tool transfer_to_agent"
    assert not by_id["c"]["escalated"] and by_id["c"]["frustration_markers"] == []
    assert by_id["c"]["repeated_questions"] == 0


def test_failures_and_feedback_of_the_sessions_calls_are_counted():
    rows = [call("a", 1, span="x1"), call("a", 2, span="x2"), call("b", 1, span="y1")]
    scores = pa.table({"span_id": ["x1", "x1", "x2", "y1"],
                       "evaluator": ["refusal", "json_valid", "refusal", "refusal"],
                       "passed": [False, False, True, True]})
    feedback = pa.table({"span_id": ["x2", "x2", "y1"], "session_id": ["a", "a", "b"],
                         "kind": ["thumbs", "rephrase", "abandonment"], "label": ["down", "rephrase", "abandonment"]})
    by_id = {s["session_id"]: s for s in sessions(rows, 0, scores=scores, feedback=feedback)}
    assert (by_id["a"]["failed_calls"], by_id["a"]["failed_checks"]) == (1, ["json_valid", "refusal"])
    assert (by_id["a"]["thumbs_down"], by_id["a"]["rephrases"], by_id["a"]["abandoned"]) == (1, 1, False)
    assert (by_id["b"]["failed_calls"], by_id["b"]["abandoned"]) == (0, True)


def test_a_long_transcript_keeps_its_first_and_last_turns_within_the_bound():
    settings = SETTINGS.model_copy(update={"transcript_max_chars": 600})
    rows = [call("a", minute, question=f"question {minute} " + "x" * 100) for minute in range(0, 20)]
    [closed] = sessions(rows, 0, settings)
    transcript = json.loads(closed["transcript"])
    assert closed["transcript_truncated"] and len(closed["transcript"]) <= 600
    assert transcript[0]["user"].startswith("question 0 ") and transcript[-1]["user"].startswith("question 19 ")
    assert transcript[1]["omitted_turns"] == 20 - 1 - (len(transcript) - 2)


def test_calls_without_a_session_id_and_hostile_text_are_handled():
    rows = [call("", 1), call(None, 2), call("a", 3, question="<script>alert(1)</script> ' OR 1=1 --" + "é" * 50)]
    [closed] = sessions(rows, 0)
    assert closed["session_id"] == "a"
    assert json.loads(closed["transcript"])[0]["user"].startswith("<script>")


def test_a_session_reaching_back_to_the_lookback_edge_is_marked_truncated():
    settings = SETTINGS.model_copy(update={"lookback_hours": 1})
    rows = [call("a", minute) for minute in range(0, 120, 20)]  # 10:00 .. 11:40, one session
    [closed] = sessions([r for r in rows if r["start_time"] >= T0 + timedelta(hours=1)], 2, settings)
    assert closed["window_truncated"]
    assert not sessions(rows, 2)[0]["window_truncated"]


@pytest.mark.parametrize("idle", [1, 30, 24 * 60])
def test_every_turn_belongs_to_exactly_one_session_whatever_the_idle_time(idle):
    settings = SETTINGS.model_copy(update={"idle_minutes": idle, "lookback_hours": 48})
    rows = [call(f"s{n % 3}", minute) for n, minute in enumerate([0, 2, 7, 33, 64, 65, 100, 170, 171, 230])]
    found = [s for hour in range(0, 30) for s in sessions(rows, hour, settings)]
    assert sum(s["turns"] for s in found) == len(rows)
    assert len({s["session_key"] for s in found}) == len(found)
