import base64

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from eval_pipelines.parsing.otlp_typed import decode_trace_request
from eval_pipelines.receiver.convert import landing_line
from eval_pipelines.receiver.payloads import BadPayload, PayloadKind, accept, export_response
from eval_pipelines_tests.builders import log_event, logs_request, span, traces_request
from eval_pipelines_tests.receiver.conftest import as_protobuf, body_of

EVERY_KIND = {"s": "text", "i": 2**62, "d": 0.5, "b": True, "list": [1, "two", [3.0]], "map": {"k": {"n": -1}}}


def a_request():
    event = {"timeUnixNano": "1763733600000000000", "name": "gen_ai.choice", "attributes": [
        {"key": "raw", "value": {"bytesValue": "AAEC"}}]}
    link = {"traceId": "cd" * 16, "spanId": "ef" * 8, "attributes": []}
    first = span("11" * 8, attributes=EVERY_KIND, events=[event], status={"code": 2, "message": "boom"})
    first["links"] = [link]
    return traces_request(first, span("22" * 8, parent="11" * 8, attributes={"empty": ""}))


def test_a_protobuf_request_lands_as_the_otlp_json_the_collector_writes():
    body = as_protobuf(a_request())
    line = landing_line(PayloadKind.TRACES_PROTOBUF, body)
    expected = _hex_ids(MessageToDict(ExportTraceServiceRequest.FromString(body), use_integers_for_enums=True))
    assert orjson.loads(line) == expected
    assert b"\n" not in line
    assert decode_trace_request(line) is not None, "the ingestion's fast path reads it"


def _hex_ids(value):
    """``json_format`` writes ids as base64; OTLP/JSON as hex."""
    if isinstance(value, dict):
        return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else _hex_ids(v)
                for k, v in value.items()}
    return [_hex_ids(item) for item in value] if isinstance(value, list) else value


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_spans_with_ids_the_spec_forbids_are_rejected_the_rest_kept(encoding):
    request = traces_request(span("11" * 8), span("00" * 8), span("22" * 8, trace_id="ab" * 8), span("33" * 8))
    accepted = accept("traces", encoding, body_of(request, encoding))
    assert (accepted.items, accepted.rejected) == (2, 2)
    assert "span id" in accepted.rejection and "trace id" in accepted.rejection
    kept = orjson.loads(landing_line(accepted.kind, accepted.payload))
    assert [s["spanId"] for s in kept["resourceSpans"][0]["scopeSpans"][0]["spans"]] == ["11" * 8, "33" * 8]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_log_records_may_carry_no_trace_context(encoding):
    record = log_event("gen_ai.choice", "hi", span_id="11" * 8)
    del record["traceId"], record["spanId"]
    accepted = accept("logs", encoding, body_of(logs_request(record, log_event("x", "y", "22" * 8)), encoding))
    assert (accepted.items, accepted.rejected) == (2, 0)


@pytest.mark.parametrize(("encoding", "body", "says"), [
    ("protobuf", b"\xff\xff\xff\xff", "protobuf ExportTraceServiceRequest"),
    ("protobuf", as_protobuf(traces_request(span("11" * 8)))[:-7], "protobuf"),
    ("json", b'{"resourceSpans": [', "not JSON"),
    ("json", b"[1, 2]", "not an OTLP/JSON"),
    ("json", b'{"resourceSpans": {"a": 1}}', "resourceSpans is not a list"),
    ("json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [1]}]}]}', "spans is not a list of objects"),
    ("json", b"[" * 5000 + b"]" * 5000, "not JSON"),
])
def test_a_body_that_is_no_export_request_is_refused_saying_why(encoding, body, says):
    with pytest.raises(BadPayload, match=says):
        accept("traces", encoding, body)


def test_an_attribute_nested_past_the_protobuf_depth_limit_is_refused_not_a_crash():
    accept("traces", "protobuf", _request_with_attribute(_nested_any_value(10)))
    with pytest.raises(BadPayload):
        accept("traces", "protobuf", _request_with_attribute(_nested_any_value(300)))


def _varint(number):
    out = b""
    while True:
        byte, number = number & 0x7F, number >> 7
        out += bytes([byte | (0x80 if number else 0)])
        if not number:
            return out


def _field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _nested_any_value(depth):
    value = _field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        key_value = _field(1, b"k") + _field(2, value)  # KeyValue{key, value}
        value = _field(6, _field(1, key_value))  # AnyValue.kvlist_value{values: [key_value]}
    return value


def _request_with_attribute(any_value):
    span_bytes = _field(1, b"\x01" * 16) + _field(2, b"\x02" * 8) + _field(9, _field(1, b"a") + _field(2, any_value))
    return _field(1, _field(2, _field(2, span_bytes)))  # resource_spans{scope_spans{spans}}


def test_half_an_emoji_from_a_javascript_app_is_replaced_and_the_sender_told():
    body = orjson.dumps(traces_request(span("11" * 8, attributes={"text": "cut PLACEHOLDER"}))).replace(
        b"PLACEHOLDER", b"\\ud83d")
    accepted = accept("traces", "json", body)
    assert (accepted.items, accepted.rejected) == (1, 0) and "lone surrogates" in accepted.rejection
    response = orjson.loads(export_response("traces", "json", accepted))
    assert response["partialSuccess"]["errorMessage"] == accepted.rejection
    kept = orjson.loads(landing_line(accepted.kind, accepted.payload))
    assert kept["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"] == {
        "stringValue": "cut \ufffd"}
