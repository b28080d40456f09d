import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eval_pipelines.ingestion import build_hours
from eval_pipelines.landing import LandingIndex
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.builders import (
    T0,
    latest_llm_attributes,
    log_event,
    logs_request,
    span,
    traces_request,
    write_lines,
)

HOUR = T0 // HOUR_NS
APP = "aa" * 8
LLM = "bb" * 8


def build(index, settings, prices, con, first=HOUR, last=HOUR):
    index.refresh()
    return {b.hour: b for b in build_hours(index, first, last, settings, prices, con)}


def rows(built, hour=HOUR):
    return built[hour].traces.to_pylist()


def app_span(**attributes):
    return span(APP, start_s=59.0, duration_s=3.0, name="POST /orders",
                attributes={"app.route": "/orders", "app.prompt_version": "v7", "gen_ai.conversation.id": "s1",
                            **attributes})


def test_dimensions_resolve_up_the_tree_across_files(home, index, settings, prices, con):
    write_lines(home.landing / "a" / "app.jsonl", traces_request(app_span(**{"app.feature_flag": "beta"})))
    write_lines(home.landing / "b" / "llm.jsonl",
                traces_request(span(LLM, parent=APP, attributes=latest_llm_attributes())))
    (row,) = rows(build(index, settings, prices, con))
    assert (row["route"], row["prompt_version"], row["session_id"]) == ("/orders", "v7", "s1")
    assert json.loads(row["dimensions"]) == {"feature_flag": "beta"}
    assert row["service_name"] == "support" and row["source_file"] == "b/llm.jsonl"
    assert row["cost_usd"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


def test_nearest_ancestor_wins_and_the_span_itself_first(home, index, settings, prices, con):
    grand = span("cc" * 8, start_s=58, duration_s=5, attributes={"app.route": "/outer", "app.prompt_version": "v1"})
    parent = span(APP, parent="cc" * 8, start_s=59, duration_s=3, attributes={"app.route": "/inner"})
    llm = span(LLM, parent=APP, attributes=latest_llm_attributes(**{"app.prompt_version": "v9"}))
    write_lines(home.landing / "t.jsonl", traces_request(grand, parent, llm))
    (row,) = rows(build(index, settings, prices, con))
    assert (row["route"], row["prompt_version"]) == ("/inner", "v9")


def test_extra_dimensions_keep_names_and_values_that_need_escaping(home, index, settings, prices, con):
    odd = settings.model_copy(update={"dimensions": {**settings.dimensions, "team's \"tier\" é": ["app.tier"]}})
    grand = span("cc" * 8, start_s=58, duration_s=5, attributes={"app.tier": "gold's \"best\"\n"})
    parent = span(APP, parent="cc" * 8, start_s=59, duration_s=3, attributes={"app.feature_flag": "beta"})
    llm = span(LLM, parent=APP, attributes=latest_llm_attributes())
    orphan = span("dd" * 8, attributes=latest_llm_attributes())
    write_lines(home.landing / "t.jsonl", traces_request(grand, parent, llm, orphan))
    by_id = {row["span_id"]: row for row in rows(build(index, odd, prices, con))}
    assert json.loads(by_id[LLM]["dimensions"]) == {"feature_flag": "beta", "team's \"tier\" é": "gold's \"best\"\n"}
    assert by_id["dd" * 8]["dimensions"] is None


def test_lines_appended_after_the_scan_wait_for_the_next_scan(home, index, settings, prices, con):
    def llm(span_id):
        return json.dumps(traces_request(span(span_id, start_s=70, attributes=latest_llm_attributes())))

    path = write_lines(home.landing / "t.jsonl", traces_request(span("01" * 8, attributes=latest_llm_attributes())))
    index.refresh()
    with path.open("a") as stream:  # a writer appends a span, then is halfway through the next
        stream.write(llm("02" * 8) + "\n" + llm("03" * 8)[:25])
    (built,) = build_hours(index, HOUR, HOUR, settings, prices, con)
    assert [row["span_id"] for row in built.traces.to_pylist()] == ["01" * 8] and built.quarantine.num_rows == 0
    with path.open("a") as stream:
        stream.write(llm("03" * 8)[25:] + "\n")
    built = build(index, settings, prices, con)
    assert sorted(row["span_id"] for row in rows(built)) == ["01" * 8, "02" * 8, "03" * 8]
    assert built[HOUR].quarantine.num_rows == 0


def test_a_span_from_before_the_lake_begins_is_quarantined_as_clock_skew(home, index, settings, prices, con):
    two_years = 2 * 365 * 86400
    write_lines(home.landing / "t.jsonl", traces_request(span("01" * 8, attributes=latest_llm_attributes()),
                                                         span("02" * 8, start_s=-two_years,
                                                              attributes=latest_llm_attributes())))
    built = build(index, settings, prices, con)
    assert [row["span_id"] for row in rows(built)] == ["01" * 8]
    (skewed,) = built[HOUR].quarantine.to_pylist()
    assert "clock skew" in skewed["reason"] and '"02020202' in skewed["raw"]


def test_parent_cycles_and_orphans_do_not_hang(home, index, settings, prices, con):
    a = span("01" * 8, parent="02" * 8, attributes=latest_llm_attributes())
    b = span("02" * 8, parent="01" * 8, attributes={"app.route": "/loop"})
    orphan = span("03" * 8, trace_id="cd" * 16, parent="ff" * 8, attributes=latest_llm_attributes())
    write_lines(home.landing / "t.jsonl", traces_request(a, b, orphan))
    found = {r["span_id"]: r for r in rows(build(index, settings, prices, con))}
    assert found["01" * 8]["route"] == "/loop" and found["03" * 8]["route"] is None


def test_duplicate_spans_across_files_are_kept_once(home, index, settings, prices, con):
    request = traces_request(span(LLM, attributes=latest_llm_attributes()))
    write_lines(home.landing / "one.jsonl", request, request)
    write_lines(home.landing / "copy" / "two.jsonl", request)
    assert [r["span_id"] for r in rows(build(index, settings, prices, con))] == [LLM]


def test_log_record_events_in_another_file_fill_the_content(home, index, settings, prices, con):
    llm = span(LLM, attributes={"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                                "gen_ai.usage.prompt_tokens": 3, "gen_ai.usage.completion_tokens": 4})
    write_lines(home.landing / "spans.jsonl", traces_request(llm))
    write_lines(home.landing / "logs.jsonl", logs_request(
        log_event("gen_ai.system.message", {"content": "Sys"}, LLM, at_s=60.1),
        log_event("gen_ai.user.message", {"content": "Question?"}, LLM, at_s=60.2),
        log_event("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "Answer."}}, LLM, at_s=60.9,
                  as_attribute=False)))
    (row,) = rows(build(index, settings, prices, con))
    assert (row["system_instructions"], row["input_text"], row["output_text"]) == ("Sys", "Question?", "Answer.")
    assert row["finish_reasons"] == ["stop"] and row["source_format"] == "otel_genai_deprecated"


def test_operation_details_event_fills_content(home, index, settings, prices, con):
    llm = span(LLM, attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"})
    details = {"timeUnixNano": "0", "observedTimeUnixNano": str(T0 + 61 * 10**9), "traceId": "ab" * 16,
               "spanId": LLM, "eventName": "gen_ai.client.inference.operation.details",
               "attributes": [{"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(
                   [{"role": "user", "parts": [{"type": "text", "content": "Q"}]}])}},
                   {"key": "gen_ai.output.messages", "value": {"stringValue": json.dumps(
                       [{"role": "assistant", "parts": [{"type": "text", "content": "A"}]}])}}]}
    write_lines(home.landing / "t.jsonl", traces_request(llm), logs_request(details))
    (row,) = rows(build(index, settings, prices, con))
    assert (row["input_text"], row["output_text"]) == ("Q", "A")


def test_retrieved_context_comes_from_retriever_spans_of_the_trace(home, index, settings, prices, con):
    retriever = span("dd" * 8, parent=APP, start_s=59.5, duration_s=0.2, attributes={
        "openinference.span.kind": "RETRIEVER", "retrieval.documents.0.document.id": "kb-1",
        "retrieval.documents.0.document.content": "Returns within 30 days."})
    llm = span(LLM, parent=APP, attributes=latest_llm_attributes())
    write_lines(home.landing / "t.jsonl", traces_request(app_span(), retriever, llm))
    (row,) = rows(build(index, settings, prices, con))
    assert json.loads(row["retrieved_context"])[0] == {"id": "kb-1", "content": "Returns within 30 days.",
                                                       "score": None, "metadata": None}


def test_parent_starting_in_the_previous_hour_still_resolves(home, index, settings, prices, con):
    parent = span(APP, start_s=-30, duration_s=120, attributes={"app.route": "/late-night"})
    write_lines(home.landing / "earlier.jsonl", traces_request(parent))
    write_lines(home.landing / "later.jsonl", traces_request(span(LLM, parent=APP, start_s=10,
                                                                  attributes=latest_llm_attributes())))
    (row,) = rows(build(index, settings, prices, con))
    assert row["route"] == "/late-night"


def test_an_llm_call_from_the_previous_hour_still_passes_its_dimensions_to_the_calls_under_it(
        home, index, settings, prices, con):
    agent = span(APP, start_s=-30, duration_s=120, attributes=latest_llm_attributes(**{"app.route": "/agent"}))
    write_lines(home.landing / "t.jsonl", traces_request(agent, span(LLM, parent=APP, start_s=10,
                                                                      attributes=latest_llm_attributes())))
    (row,) = rows(build(index, settings, prices, con))
    assert row["span_id"] == LLM and row["route"] == "/agent"


def test_bad_lines_and_spans_are_quarantined_in_the_files_first_hour(home, index, settings, prices, con):
    good = traces_request(span(LLM, start_s=3600 + 10, attributes=latest_llm_attributes()))
    no_id = traces_request(span("", start_s=3600 + 20, attributes=latest_llm_attributes()))
    write_lines(home.landing / "t.jsonl", good, b'{"resourceSpans": [{"trunc', no_id, b'"just a string"')
    built = build(index, settings, prices, con, HOUR, HOUR + 1)
    assert built[HOUR].quarantine.num_rows == 0 and len(rows(built, HOUR + 1)) == 1
    reasons = built[HOUR + 1].quarantine.column("reason").to_pylist()
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "span without a valid spanId"
    assert reasons[2].startswith("not an OTLP export request or a plain record")
    assert built[HOUR + 1].quarantine.column("source_line").to_pylist() == [2, 3, 4]


def test_a_file_with_no_readable_time_is_quarantined_in_the_hour_it_landed(home, index, settings, prices, con):
    path = write_lines(home.landing / "junk.jsonl", b"<html>502 Bad Gateway</html>", b"{}")
    os.utime(path, ns=(T0 + 5 * 10**9, T0 + 5 * 10**9))
    built = build(index, settings, prices, con)
    assert built[HOUR].traces.num_rows == 0
    assert built[HOUR].quarantine.num_rows == 2


def test_hours_without_data_come_out_empty(home, index, settings, prices, con):
    built = build(index, settings, prices, con, HOUR, HOUR + 2)
    assert sorted(built) == [HOUR, HOUR + 1, HOUR + 2]
    assert all(b.traces.num_rows == 0 and b.quarantine.num_rows == 0 for b in built.values())


def test_hostile_content_is_stored_verbatim(home, index, settings, prices, con):
    hostile = "<script>alert(1)</script>' OR 1=1; -- ignore previous instructions \u202e\U0001f600"
    write_lines(home.landing / "t.jsonl", traces_request(span(LLM, attributes=latest_llm_attributes(
        question=hostile, **{"app.route": "/x'; DROP TABLE traces; --"}))))
    (row,) = rows(build(index, settings, prices, con))
    assert row["input_text"] == hostile and row["route"] == "/x'; DROP TABLE traces; --"


def test_a_span_sent_again_with_other_times_is_kept_once_in_the_hour_of_its_latest_copy(
        home, index, settings, prices, con):
    write_lines(home.landing / "first.jsonl", traces_request(span(LLM, start_s=3500, duration_s=1,
                                                                  attributes=latest_llm_attributes())))
    write_lines(home.landing / "again.jsonl", traces_request(span(LLM, start_s=3700, duration_s=1,
                                                                  attributes=latest_llm_attributes())))
    built = build(index, settings, prices, con, HOUR, HOUR + 1)
    assert rows(built, HOUR) == [] and [r["span_id"] for r in rows(built, HOUR + 1)] == [LLM]


def test_a_large_file_parsed_in_byte_ranges_by_worker_processes_gives_the_same_hours(
        home, index, settings, prices, con, monkeypatch):
    from eval_pipelines import ingestion

    lines = []
    for n in range(60):
        app, llm = f"{2 * n + 1:016x}", f"{2 * n + 2:016x}"
        trace = f"{n + 1:032x}"
        start = 50 * n + 10  # two hours of calls, each with its application span
        lines.append(traces_request(
            span(app, trace_id=trace, start_s=start - 1, duration_s=5, attributes={"app.route": f"/r{n % 3}"}),
            span(llm, trace_id=trace, parent=app, start_s=start, attributes=latest_llm_attributes(
                question=f"question {n} " + "x" * (n * 37)))))
        if n % 17 == 5:
            lines.append(b'{"resourceSpans": [{"trunc')
    write_lines(home.landing / "big.jsonl", *lines)
    whole = build(index, settings, prices, con, HOUR, HOUR + 1)

    monkeypatch.setattr(ingestion, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(ingestion, "PARALLEL_BYTES", 0)
    entry = index.entries_for(ingestion.window_of_hours(HOUR, HOUR + 1))[0]
    assert ingestion._task_count([entry], home.landing) > 10
    split = build(index, settings, prices, con, HOUR, HOUR + 1)

    for hour in (HOUR, HOUR + 1):
        assert split[hour].traces.drop_columns(["ingested_at"]).equals(whole[hour].traces.drop_columns(["ingested_at"]))
        assert split[hour].quarantine.equals(whole[hour].quarantine)
    assert sum(len(rows(whole, hour)) for hour in (HOUR, HOUR + 1)) == 60
    assert whole[HOUR].quarantine.column("source_line").to_pylist() == [7, 25, 43, 61]


def test_every_span_in_the_window_counts_as_staged_llm_calls_and_the_rest_alike(home, index, settings, prices,
                                                                                 con):
    from eval_pipelines.ingestion import WindowStats

    write_lines(home.landing / "t.jsonl", traces_request(app_span(), span(LLM, parent=APP,
                                                                          attributes=latest_llm_attributes())))
    index.refresh()
    stats = WindowStats()
    list(build_hours(index, HOUR, HOUR, settings, prices, con, stats=stats))
    assert stats.spans_staged == 2 and stats.files == ["t.jsonl"]


FIXTURES = Path(__file__).parent / "parsing" / "fixtures"


def test_the_vercel_ai_sdk_model_call_becomes_one_row_with_its_metadata_as_dimensions(home, index, settings, prices,
                                                                                   con):
    shutil.copy(FIXTURES / "vercel_ai_sdk.jsonl", home.landing / "vercel.jsonl")
    index.refresh()
    (entry,) = index.current_entries()
    hour = entry.hours[0]
    (row,) = build(index, settings, prices, con, hour, hour)[hour].traces.to_pylist()
    assert (row["source_format"], row["operation"], row["request_model"], row["response_model"]) == (
        "vercel_ai_sdk", "chat", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (row["input_tokens"], row["output_tokens"], row["finish_reasons"]) == (20, 42, ["stop"])
    assert row["input_text"] == "Where is my order 1042?" and row["output_text"].startswith("Your order is on its way")
    assert row["system_instructions"].startswith("You are Acme's support assistant")
    assert (row["route"], row["prompt_version"], row["session_id"], row["user_id"]) == (
        "/help", "web-v3", "web-session-1", "web-user-7")
    assert json.loads(row["dimensions"]) == {"prompt_name": "support-answer"}


def test_a_client_spans_http_route_is_the_remote_apis_path_not_the_applications_route(home, index, settings,
                                                                                     prices, con):
    server = span(APP, start_s=59.0, duration_s=3.0, attributes={"http.route": "/orders/{id}"})
    server["kind"] = 2
    sdk_call = span(LLM, parent=APP, attributes=latest_llm_attributes(**{"http.route": "/v1/messages"}))
    write_lines(home.landing / "t.jsonl", traces_request(server, sdk_call))
    (row,) = rows(build(index, settings, prices, con))
    assert row["route"] == "/orders/{id}"


def test_a_call_traced_twice_keeps_the_richer_row_and_says_so(home, index, settings, prices, con):
    sdk_own = span(LLM, parent=APP, attributes={"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat",
                                                "gen_ai.request.model": "claude", "gen_ai.response.id": "msg_1"})
    instrumented = span("cc" * 8, parent=LLM, attributes=latest_llm_attributes(**{"gen_ai.response.id": "msg_1"}))
    write_lines(home.landing / "t.jsonl", traces_request(app_span(), sdk_own, instrumented))
    (row,) = rows(build(index, settings, prices, con))
    assert row["span_id"] == "cc" * 8 and row["input_text"] == "Where is my order?"
    assert any(LLM in warning and "gen_ai.response.id" in warning for warning in row["parse_warnings"])


def test_the_standard_prompt_name_is_a_slicing_dimension(home, index, settings, prices, con):
    write_lines(home.landing / "t.jsonl", traces_request(app_span(**{"gen_ai.prompt.name": "order-status"}),
                                                         span(LLM, parent=APP, attributes=latest_llm_attributes())))
    (row,) = rows(build(index, settings, prices, con))
    assert json.loads(row["dimensions"])["prompt_name"] == "order-status" and row["input_messages"]


def _nested_json(depth: int) -> str:
    """An AnyValue nested ``depth`` key-value lists deep, as JSON text (json.dumps would itself recurse)."""
    return '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth + '{"stringValue": "leaf"}' + "}]}}" * depth


@pytest.mark.parametrize("depth", [400, 3000])
def test_an_attribute_nested_hundreds_deep_never_stops_the_file(home, index, settings, prices, con, depth):
    deep = json.dumps(traces_request(span(LLM, attributes=latest_llm_attributes())))
    deep = deep.replace('"attributes": [', '"attributes": [{"key": "payload", "value": ' + _nested_json(depth) + "}, ",
                        1)
    control = json.dumps(traces_request(span("cc" * 8, attributes=latest_llm_attributes())))
    (home.landing / "deep.jsonl").write_text(deep + "\n" + control + "\n")
    built = build(index, settings, prices, con)[HOUR]
    rows = {row["span_id"]: row for row in built.traces.to_pylist()}
    quarantined = built.quarantine.to_pylist()
    assert "cc" * 8 in rows, "the line after it is read"
    assert (LLM in rows) != bool(quarantined), "the deep line is either read or quarantined, never lost"
    if quarantined:
        reason = quarantined[0]["reason"]
        assert quarantined[0]["source_line"] == 1 and ("deep" in reason or "depth" in reason)


def test_numbers_and_times_outside_int64_are_flagged_or_quarantined_never_failing_the_hour(home, index, settings,
                                                                                           prices, con):
    huge = span(LLM, attributes=latest_llm_attributes(**{"gen_ai.usage.input_tokens": 2**64,
                                                         "gen_ai.usage.output_tokens": 2**53 + 1}))
    far = span("cc" * 8, attributes=latest_llm_attributes())
    far["startTimeUnixNano"] = str(2**70)
    write_lines(home.landing / "edges.jsonl", traces_request(huge), traces_request(far))
    built = build(index, settings, prices, con)[HOUR]
    (row,) = built.traces.to_pylist()
    assert (row["input_tokens"], row["output_tokens"]) == (None, 2**53 + 1)
    assert row["parse_warnings"] == ["gen_ai.usage.input_tokens is not an integer: '18446744073709551616'"]
    assert [(q["source_line"], q["reason"]) for q in built.quarantine.to_pylist()] == [
        (2, "span without a valid startTimeUnixNano")]


def test_feedback_dated_before_the_lake_is_quarantined_not_lost(home, index, settings, prices, con):
    at = datetime.fromtimestamp(T0 / 1e9 + 60, UTC).isoformat()
    write_lines(home.landing / "feedback" / "survey.jsonl",
                {"timestamp": "1999-12-31T23:59:00Z", "response_id": "r1", "kind": "thumbs", "value": "down"},
                {"timestamp": at, "response_id": "r2", "kind": "thumbs", "value": "up"})
    built = build(index, settings, prices, con)[HOUR]
    assert built.feedback.column("response_id").to_pylist() == ["r2"]
    (quarantined,) = built.quarantine.to_pylist()
    assert quarantined["source_line"] == 1 and "before the lake's first hour" in quarantined["reason"]


def test_one_span_id_in_two_traces_keeps_one_and_quarantines_the_other_naming_both(home, index, settings, prices,
                                                                                   con):
    write_lines(home.landing / "a.jsonl", traces_request(span(LLM, trace_id="aa" * 16, start_s=60,
                                                              attributes=latest_llm_attributes())))
    write_lines(home.landing / "b.jsonl", traces_request(span(LLM, trace_id="bb" * 16, start_s=30,
                                                              attributes=latest_llm_attributes())))
    write_lines(home.landing / "a-again.jsonl", traces_request(span(LLM, trace_id="aa" * 16, start_s=60,
                                                                    attributes=latest_llm_attributes())))
    built = build(index, settings, prices, con)[HOUR]
    (row,) = built.traces.to_pylist()
    (conflict,) = built.quarantine.to_pylist()  # the copy re-sent in a-again.jsonl is no conflict
    assert row["trace_id"] == "aa" * 16, "the version that ends last is kept"
    assert (conflict["source_file"], conflict["source_line"]) == ("b.jsonl", 1)
    assert conflict["reason"].startswith(f"span id conflict: {LLM} is also a different span (trace {'aa' * 16}")
    assert conflict["reason"].endswith("at a-again.jsonl:1, the version kept")


@pytest.mark.parametrize(("line", "reason"), [
    ('{"resourceSpans": "spans"}', "resourceSpans is not a list"),
    ('{"resourceSpans": [{"scopeSpans": 5}]}', "scopeSpans is not a list"),
    ('{"resourceSpans": [{"scopeSpans": {"spans": []}}]}', "scopeSpans is not a list"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [42, "x"]}]}]}', "an entry of spans is not a JSON object"),
    ('{"resourceLogs": ["log"]}', "an entry of resourceLogs is not a JSON object"),
    ('{"hello": "world"}', "plain record without start_time"),
    ('[1, 2]', "not an OTLP export request or a plain record: expected a JSON object"),
])
def test_json_of_no_known_shape_is_quarantined_and_the_next_line_read(home, index, settings, prices, con, line,
                                                                      reason):
    good = json.dumps(traces_request(span(LLM, attributes=latest_llm_attributes())))
    (home.landing / "shapes.jsonl").write_text(line + "\n" + good + "\n")
    built = build(index, settings, prices, con)[HOUR]
    assert built.traces.column("span_id").to_pylist() == [LLM]
    assert [(q["source_line"], q["reason"]) for q in built.quarantine.to_pylist()] == [(1, reason)]


def test_a_span_dated_far_after_its_file_landed_is_quarantined_not_left_waiting(home, index, settings, prices, con):
    path = write_lines(home.landing / "skewed.jsonl",
                       traces_request(span(LLM, start_s=60, attributes=latest_llm_attributes())),
                       traces_request(span("cc" * 8, start_s=30, attributes=latest_llm_attributes())))
    landed = T0 / 1e9 - 3 * 24 * 3600  # the file's clock is three days behind the spans' (or the spans' ahead)
    os.utime(path, (landed, landed))
    index.refresh()
    (entry,) = index.current_entries()
    assert entry.hours == () and entry.quarantine_hour == int(landed * 1e9) // HOUR_NS, "no future hour to wait for"
    built = build(index, settings, prices, con, entry.quarantine_hour, entry.quarantine_hour)[entry.quarantine_hour]
    reasons = [q["reason"] for q in built.quarantine.to_pylist()]
    assert len(reasons) == 2 and all("after its file landed (more than max_future_skew_hours = 24)" in r
                                     for r in reasons)
    relaxed = settings.model_copy(update={"max_future_skew_hours": 24 * 7})
    reindexed = LandingIndex(home.landing, home.landing_index, relaxed.future_skew_ns)
    (old, new), = reindexed.refresh().changed  # the same bytes, read again: the hours they hold now are requested
    assert (old.hours, new.hours) == ((), (HOUR,))
    assert build(reindexed, relaxed, prices, con)[HOUR].traces.num_rows == 2


def test_a_hostile_tool_span_is_a_row_kept_once_and_a_call_under_it_reads_its_dimensions(
        home, index, settings, prices, con):
    tool = "cc" * 8
    hostile = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": ["<b>lookup</b>", 7],
               "gen_ai.tool.call.arguments": {"order": {"id": 7}}, "gen_ai.tool.call.result": "r" * 3_000_000}
    write_lines(home.landing / "first.jsonl", traces_request(
        app_span(), span(tool, parent=APP, start_s=59.5, duration_s=0.5, attributes=hostile)))
    # The same tool span exported again once it ended later, with an error status; a model call made under it.
    write_lines(home.landing / "again.jsonl", traces_request(
        span(tool, parent=APP, start_s=59.5, duration_s=2.0, attributes=hostile,
             status={"code": "STATUS_CODE_ERROR", "message": "<script>x</script>"}),
        span(LLM, parent=tool, start_s=60.0, attributes=latest_llm_attributes())))
    built = build(index, settings, prices, con)
    (execution,) = built[HOUR].tools.to_pylist()
    assert (execution["span_id"], execution["duration_ms"], execution["status_code"], execution["error_type"]) == (
        tool, 2000.0, "ERROR", "<script>x</script>")
    assert execution["tool_name"] == '["<b>lookup</b>",7]' and json.loads(execution["arguments"]) == {
        "order": {"id": 7}}
    assert len(execution["result"]) < 8_100 and execution["result"].endswith("more characters]")
    (call,) = rows(built)
    assert (call["route"], call["prompt_version"]) == ("/orders", "v7")
