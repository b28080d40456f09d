"""Fifty kinds of hostile landing input, all in one landing folder, built in one pass: every kind's file also
holds a valid control call, which must come out intact whatever its neighbours are. For every line the kind
expects either a row (its span id, and what the row must say) or a quarantine row whose reason names the
problem; no line is lost and no other rows appear."""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from eval_pipelines.ingestion import build_hours
from eval_pipelines.landing import LandingIndex
from eval_pipelines.landing_stores import FolderLanding, Listed
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.settings import load_ingestion_settings, load_price_table
from eval_pipelines_tests.builders import T0, latest_llm_attributes, log_event, logs_request, span, traces_request

HOUR = T0 // HOUR_NS
LANDED_NS = T0 + 2 * HOUR_NS  # every file lands two hours after the control calls start


@dataclass(frozen=True)
class Row:
    """The line comes out as the row of ``span_id``; ``check`` says what else the row must hold."""

    span_id: str
    check: Callable[[dict[str, Any]], bool] = lambda _: True


@dataclass(frozen=True)
class Quarantined:
    """The line comes out as a quarantine row whose reason contains ``reason``."""

    reason: str


@dataclass
class Kind:
    name: str
    lines: list[bytes]
    """The hostile lines; the control line is written after them (``control_first``: before)."""
    expected: list[Row | Quarantined]
    suffix: str = ".jsonl"
    control_first: bool = False
    encode: Callable[[bytes], bytes] = lambda data: data
    extra: dict[str, Any] = field(default_factory=dict)


def ids(number: int) -> tuple[str, str]:
    """The span and trace id of kind ``number``'s hostile call."""
    return f"e{number:015x}", f"e{number:031x}"


def llm(number: int, start_s: float = 600, **changes: Any) -> dict[str, Any]:
    span_id, trace_id = ids(number)
    out = span(span_id, trace_id=trace_id, start_s=start_s, attributes=latest_llm_attributes(
        question=f"hostile question {number}"))
    return {**out, **changes}


def line(document: Any) -> bytes:
    return document if isinstance(document, bytes) else json.dumps(document, ensure_ascii=False).encode()


def request(*spans: dict[str, Any]) -> bytes:
    return line(traces_request(*spans))


def with_attribute(number: int, key: str, value: dict[str, Any]) -> bytes:
    call = llm(number)
    call["attributes"] = [*call["attributes"], {"key": key, "value": value}]
    return request(call)


def with_llm_attribute(number: int, key: str, value: Any) -> bytes:
    """The call with one of its standard attributes replaced by an AnyValue ``value``."""
    call = llm(number)
    call["attributes"] = [a if a["key"] != key else {"key": key, "value": value} for a in call["attributes"]]
    return request(call)


def nested(depth: int) -> str:
    return '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth + '{"stringValue": "x"}' + "}]}}" * depth


def plain(number: int, **changes: Any) -> bytes:
    span_id, _ = ids(number)
    record = {"span_id": span_id, "start_time": "2026-11-21T14:10:00Z", "duration_ms": 900, "model": "gpt-4o-mini",
              "input": f"plain question {number}", "output": "plain answer"}
    return line({**record, **changes})


def kept(number: int, check: Callable[[dict[str, Any]], bool] = lambda _: True) -> Row:
    return Row(ids(number)[0], check)


def warned(number: int, words: str, check: Callable[[dict[str, Any]], bool] = lambda _: True) -> Row:
    return kept(number, lambda row: any(words in warning for warning in row["parse_warnings"]) and check(row))


def asking(number: int, text: str) -> bytes:
    """Kind ``number``'s call with ``text`` as the user's message."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": text}]}]
    return with_llm_attribute(number, "gen_ai.input.messages", {"stringValue": json.dumps(messages)})


def kept_asking(number: int, text: str) -> Row:
    return kept(number, lambda row: row["input_text"] == text)


def kinds() -> list[Kind]:
    # Kind n's hostile call has the ids of ``ids(n)``: the list's order numbers them.
    table: list[Callable[[int], Kind]] = [
        # Not JSON, or not JSON we can read.
        lambda n: Kind("truncated_line", [request(llm(n))[:57]], [Quarantined("malformed JSON")]),
        lambda n: Kind("binary_garbage", [bytes(range(1, 10)) + b"\xff\xfe\x80"], [Quarantined("malformed JSON")]),
        lambda n: Kind("html_error_page", [b"<html><body>502 Bad Gateway</body></html>"],
                       [Quarantined("malformed JSON")]),
        lambda n: Kind("nan_literal", [b'{"resourceSpans": NaN}'], [Quarantined("malformed JSON")]),
        lambda n: Kind("raw_control_character", [request(llm(n)).replace(b"hostile question", b"hostile\x01q")],
                       [Quarantined("malformed JSON")]),
        lambda n: Kind("json_string", [b'"just a string"'], [Quarantined("not an OTLP export request")]),
        lambda n: Kind("json_number", [b"42"], [Quarantined("not an OTLP export request")]),
        lambda n: Kind("json_null", [b"null"], [Quarantined("not an OTLP export request")]),
        lambda n: Kind("json_array", [b"[1, 2]"], [Quarantined("expected a JSON object")]),
        lambda n: Kind("empty_object", [b"{}"], [Quarantined("plain record without start_time")]),
        lambda n: Kind("unknown_shape", [b'{"hello": "world"}'], [Quarantined("plain record without start_time")]),
        lambda n: Kind("nested_3000_deep", [("[" * 3000 + "]" * 3000).encode()], [Quarantined("depth")]),
        lambda n: Kind("attribute_nested_3000_deep", [with_attribute(n, "payload", {"stringValue": "deep"}).replace(
            b'{"stringValue": "deep"}', nested(3000).encode())], [Quarantined("depth")]),
        # Export requests of the wrong shape.
        lambda n: Kind("resource_spans_not_a_list", [b'{"resourceSpans": "spans"}'],
                       [Quarantined("resourceSpans is not a list")]),
        lambda n: Kind("scope_spans_an_object", [b'{"resourceSpans": [{"scopeSpans": {"spans": []}}]}'],
                       [Quarantined("scopeSpans is not a list")]),
        lambda n: Kind("span_entries_not_objects", [b'{"resourceSpans": [{"scopeSpans": [{"spans": [42, "x"]}]}]}'],
                       [Quarantined("an entry of spans is not a JSON object")]),
        lambda n: Kind("log_entries_not_objects", [b'{"resourceLogs": ["log"]}'],
                       [Quarantined("an entry of resourceLogs is not a JSON object")]),
        # Ids and times out of range.
        lambda n: Kind("span_without_id", [request(llm(n, spanId=""))], [Quarantined("without a valid spanId")]),
        lambda n: Kind("span_id_not_hex", [request(llm(n, spanId="zz" * 8))], [Quarantined("without a valid spanId")]),
        lambda n: Kind("span_id_too_long", [request(llm(n, spanId="ab" * 40))],
                       [Quarantined("without a valid spanId")]),
        lambda n: Kind("start_time_missing", [request({k: v for k, v in llm(n).items() if k != "startTimeUnixNano"})],
                       [Quarantined("without a valid startTimeUnixNano")]),
        lambda n: Kind("start_time_negative", [request(llm(n, startTimeUnixNano="-5"))], [Quarantined("clock skew")]),
        lambda n: Kind("start_time_past_int64", [request(llm(n, startTimeUnixNano=str(2**70)))],
                       [Quarantined("without a valid startTimeUnixNano")]),
        lambda n: Kind("start_time_not_a_number", [request(llm(n, startTimeUnixNano="yesterday"))],
                       [Quarantined("without a valid startTimeUnixNano")]),
        lambda n: Kind("start_time_before_the_lake", [request(llm(n, startTimeUnixNano=str(10**18)))],
                       [Quarantined("clock skew")]),
        lambda n: Kind("start_time_centuries_ahead", [request(llm(n, startTimeUnixNano=str(9 * 10**18),
                                                                  endTimeUnixNano=str(9 * 10**18 + 1)))],
                       [Quarantined("after its file landed")]),
        lambda n: Kind("end_before_start", [request(llm(n, endTimeUnixNano=str(T0)))],
                       [warned(n, "before it starts", lambda row: row["duration_ms"] is None)]),
        # Values of the wrong type or size.
        lambda n: Kind("tokens_above_int64", [with_llm_attribute(n, "gen_ai.usage.input_tokens",
                                                                 {"intValue": str(2**64)})],
                       [warned(n, "gen_ai.usage.input_tokens is not an integer")]),
        lambda n: Kind("tokens_above_2_to_53", [with_llm_attribute(n, "gen_ai.usage.output_tokens",
                                                                   {"intValue": str(2**53 + 1)})],
                       [kept(n, lambda row: row["output_tokens"] == 2**53 + 1)]),
        lambda n: Kind("tokens_negative", [with_llm_attribute(n, "gen_ai.usage.input_tokens", {"intValue": "-7"})],
                       [kept(n, lambda row: row["cost_usd"] is None or row["cost_usd"] >= 0 or row["parse_warnings"])]),
        lambda n: Kind("tokens_as_text", [with_llm_attribute(n, "gen_ai.usage.input_tokens",
                                                             {"stringValue": "lots"})],
                       [kept(n, lambda row: row["input_tokens"] is None)]),
        lambda n: Kind("messages_not_json", [with_llm_attribute(n, "gen_ai.input.messages",
                                                                {"stringValue": "{not json"})],
                       [kept(n)]),
        lambda n: Kind("messages_a_number", [with_llm_attribute(n, "gen_ai.output.messages", {"intValue": "5"})],
                       [kept(n)]),
        lambda n: Kind("attributes_not_a_list", [request(llm(n, attributes={"gen_ai.system": "openai"}))],
                       [kept(n)]),  # the attributes as a JSON object, as some exporters write them
        lambda n: Kind("unknown_value_type", [with_attribute(n, "odd", {"bytesValue": "AAEC", "mystery": 1})],
                       [kept(n)]),
        lambda n: Kind("ten_thousand_attributes", [request(llm(n, attributes=llm(n)["attributes"] + [
            {"key": f"k{i}", "value": {"stringValue": "v"}} for i in range(10_000)]))], [kept(n)]),
        lambda n: Kind("five_megabyte_value", [with_attribute(n, "blob", {"stringValue": "x" * 5_000_000})],
                       [kept(n)]),
        lambda n: Kind("status_code_unknown", [request(llm(n, status={"code": 99, "message": "??"}))], [kept(n)]),
        # Unicode.
        lambda n: Kind("line_separators_in_text", [asking(n, "a\u2028b\u0085c\u2029d")],
                       [kept_asking(n, "a\u2028b\u0085c\u2029d")]),
        lambda n: Kind("nul_in_text", [asking(n, "a\u0000b")], [kept_asking(n, "a\u0000b")]),
        lambda n: Kind("invalid_utf8_in_text", [request(llm(n)).replace(b"hostile question", b"hostile \xff\xfe")],
                       [warned(n, "UTF-8")]),
        lambda n: Kind("lone_surrogate_escape", [request(llm(n)).replace(b"hostile question", b"half \\ud83d")],
                       [warned(n, "lone surrogates", lambda row: row["input_text"] == f"half \ufffd {n}")]),
        lambda n: Kind("right_to_left_override_and_emoji", [asking(n, "\u202eabc\U0001f600")],
                       [kept_asking(n, "\u202eabc\U0001f600")]),
        # Line and file framing.
        lambda n: Kind("byte_order_mark", [b"\xef\xbb\xbf" + request(llm(n))], [kept(n)]),
        lambda n: Kind("crlf_line_ends", [request(llm(n)) + b"\r"], [kept(n)]),
        lambda n: Kind("no_final_newline", [request(llm(n))], [kept(n)], control_first=True,
                       extra={"no_final_newline": True}),
        lambda n: Kind("gzip_truncated", [request(llm(n)), with_attribute(n + 1000, "blob", {
            "stringValue": random.Random(n).randbytes(100_000).hex()})], [kept(n), Quarantined("cannot read file")],
                       suffix=".jsonl.gz", control_first=True, encode=lambda data: gzip.compress(data)[:-50_000]),
        lambda n: Kind("gzip_suffix_but_plain", [request(llm(n))], [Quarantined("cannot read file")],
                       suffix=".jsonl.gz", extra={"control_elsewhere": True}),
        # Duplicates and conflicts.
        lambda n: Kind("same_span_twice_in_a_line", [request(llm(n), llm(n))], [kept(n)]),
        lambda n: Kind("same_span_again_on_the_next_line", [request(llm(n)), request(llm(n))], [kept(n), kept(n)]),
        lambda n: Kind("span_id_reused_with_other_content", [request(llm(n)), with_llm_attribute(
            n, "gen_ai.usage.output_tokens", {"intValue": "7"})], 
                       [kept(n), Quarantined("sent again with other content")]),
        # Plain records.
        lambda n: Kind("plain_time_not_a_time", [plain(n, start_time="soon")], [Quarantined("start_time")]),
        lambda n: Kind("plain_negative_duration", [plain(n, duration_ms=-5)], [warned(n, "before it starts")]),
        lambda n: Kind("plain_input_an_object", [plain(n, input={"nested": [1, 2]})], [kept(n)]),
        # Log records.
        lambda n: Kind("log_event_time_past_int64", [line(logs_request({**log_event(
            "gen_ai.client.inference.operation.details", {"x": 1}, *ids(n)), "timeUnixNano": str(2**70)}))],
                       [Quarantined("log record without a valid traceId, spanId or time")]),
    ]
    return [make(number) for number, make in enumerate(table, start=1)]


KINDS = kinds()


def control_line(number: int) -> bytes:
    call = span(f"c{number:015x}", trace_id=f"c{number:031x}", start_s=10 + number, attributes=latest_llm_attributes(
        question=f"control question {number}", answer=f"control answer {number}"))
    return request(call)


def file_of(kind: Kind) -> str:
    return f"{kind.name}/export{kind.suffix}"


def write_kind(landing: Path, number: int, kind: Kind) -> None:
    lines = [control_line(number), *kind.lines] if kind.control_first else [*kind.lines, control_line(number)]
    if kind.extra.get("control_elsewhere"):
        lines = kind.lines
        (landing / kind.name).mkdir(parents=True)
        (landing / kind.name / "control.jsonl").write_bytes(control_line(number) + b"\n")
    path = landing / file_of(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\n".join(lines) + (b"" if kind.extra.get("no_final_newline") else b"\n")
    path.write_bytes(kind.encode(data))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hostile-files")
    landing = root / "landing"
    for number, kind in enumerate(KINDS, start=1):
        write_kind(landing, number, kind)
    for path in landing.rglob("*"):
        os.utime(path, ns=(LANDED_NS, LANDED_NS))
    index = LandingIndex(landing, root / "index")
    refresh = index.refresh()
    with duckdb.connect() as con:
        hours = list(build_hours(index, HOUR - 1, HOUR + 2, load_ingestion_settings(), load_price_table(), con))
    traces = [row for hour in hours for row in hour.traces.to_pylist()]
    quarantine = [row for hour in hours for row in hour.quarantine.to_pylist()]
    return {"refresh": refresh, "traces": traces, "quarantine": quarantine}


def test_there_are_at_least_forty_kinds():
    assert len({kind.name for kind in KINDS}) == len(KINDS) >= 40


@pytest.mark.parametrize("number", range(1, len(KINDS) + 1), ids=[kind.name for kind in KINDS])
def test_each_line_ends_as_its_row_or_quarantined_with_its_reason(built, number):
    kind = KINDS[number - 1]
    control = f"c{number:015x}"
    rows = {row["span_id"]: row for row in built["traces"]}
    assert (rows[control]["input_text"], rows[control]["output_text"]) == (
        f"control question {number}", f"control answer {number}"), "the control call is intact"
    files = {file_of(kind), f"{kind.name}/control.jsonl"}
    from_file = {row["span_id"] for row in built["traces"] if row["source_file"] in files} - {control}
    quarantined = sorted((q["source_line"], q["reason"]) for q in built["quarantine"] if q["source_file"] in files)
    expected_rows = {outcome.span_id for outcome in kind.expected if isinstance(outcome, Row)}
    expected_reasons = [outcome.reason for outcome in kind.expected if isinstance(outcome, Quarantined)]
    assert from_file == expected_rows, "no line lost, no row made up"
    for outcome in kind.expected:
        if isinstance(outcome, Row):
            assert outcome.check(rows[outcome.span_id]), rows[outcome.span_id]
    assert len(quarantined) == len(expected_reasons), quarantined
    for (_, reason), words in zip(quarantined, expected_reasons, strict=True):
        assert words.lower() in reason.lower(), reason


def test_no_file_is_left_unindexed(built):
    assert built["refresh"].unusable == [] and built["refresh"].waiting == []


class ListedEarlier(FolderLanding):
    """A landing folder as listed a moment ago: files renamed or deleted since are still in the listing."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.listed = super().listing()

    def listing(self) -> list[Listed]:
        return self.listed


def test_files_that_cannot_be_read_or_named_are_reported_and_retried_never_stopping_the_others(tmp_path):
    landing = tmp_path / "landing"
    (landing / "rotated.jsonl").parent.mkdir()
    for name in ("rotated.jsonl", "control.jsonl"):
        (landing / name).write_bytes(control_line(1 if name == "control.jsonl" else 2) + b"\n")
    (landing / "unreadable.jsonl").symlink_to("/proc/self/mem")  # reading it fails with EIO, even for root
    (landing / "empty.jsonl").write_bytes(b"")
    (landing / "blank-lines.jsonl").write_bytes(b"\n \n\t\n")
    (landing / "folder.jsonl").mkdir()
    os.mkfifo(landing / "pipe.jsonl")  # opening it would wait for a writer forever
    (landing / "loop.jsonl").symlink_to(landing / "loop.jsonl")
    with open(os.path.join(os.fsencode(landing), b"name-\xff.jsonl"), "wb") as stream:
        stream.write(control_line(3) + b"\n")
    files = ListedEarlier(landing)
    (landing / "rotated.jsonl").rename(landing / "rotated.jsonl.1")  # a Collector rotating between list and read
    index = LandingIndex(files, tmp_path / "index")
    first, again = index.refresh(), index.refresh()
    for refresh in (first, again):  # reported on every refresh until fixed
        assert sorted(reason.split(":")[0] for _, reason in refresh.unusable) == [
            "cannot read the file", "the file name is not valid UTF-8"]
    assert sorted(entry.path for entry in first.new) == ["blank-lines.jsonl", "control.jsonl", "empty.jsonl"]
    assert again.new == [] and again.unchanged == 3
    with duckdb.connect() as con:
        (hour,) = build_hours(index, HOUR, HOUR, load_ingestion_settings(), load_price_table(), con)
    assert hour.traces.column("span_id").to_pylist() == [f"c{1:015x}"] and hour.quarantine.num_rows == 0
