import base64
import json

import orjson
import pytest

from eval_pipelines.parsing.files import Document
from eval_pipelines.parsing.otlp_typed import decode_trace_request
from eval_pipelines.parsing.records import Extractor, Window, document_times
from eval_pipelines_tests.builders import T0, latest_llm_attributes, span, traces_request

LLM, APP = "bb" * 8, "aa" * 8


class Records:
    def __init__(self):
        self.added = []

    def add(self, kind, record):
        self.added.append((kind, record))


def _both_readers(line: bytes, settings) -> tuple[list, list]:
    typed = decode_trace_request(line)
    assert typed is not None, "the line was expected to take the typed path"
    window = Window(T0 - 3600 * 10**9, T0 + 3600 * 10**9)
    out = []
    for value in (typed, orjson.loads(line)):
        records = Records()
        Extractor(settings, "f.jsonl", window, with_quarantine=True).extract(Document(1, value, None, line), records)
        out.append(records.added)
    return out[0], out[1]


SPEC_SHAPED = {
    "latest conventions under an application span": traces_request(
        span(APP, attributes={"app.route": "/orders", "app.prompt_version": "v7", "gen_ai.conversation.id": "s1"}),
        span(LLM, parent=APP, attributes=latest_llm_attributes())),
    "every AnyValue kind, nested arrays and maps": traces_request(span(LLM, attributes=latest_llm_attributes(
        flag=True, ratio=0.5, tags=["a", 1, None], nested={"k": {"deep": [1.5, "x"]}}, empty=""))),
    "numbers as JSON numbers, base64 ids, enum names": traces_request({
        **span(base64.b64encode(bytes.fromhex(LLM)).decode(), attributes=latest_llm_attributes()),
        "traceId": base64.b64encode(bytes.fromhex("cd" * 16)).decode(), "kind": "SPAN_KIND_CLIENT",
        "startTimeUnixNano": T0 + 10**9, "endTimeUnixNano": T0 + 2 * 10**9,
        "status": {"code": "STATUS_CODE_ERROR", "message": "upstream 503"}}),
    "deprecated per-message span events and a feedback event": traces_request(span(
        LLM, attributes={"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
        events=[{"name": "gen_ai.user.message", "timeUnixNano": str(T0 + 61 * 10**9),
                 "attributes": [{"key": "content", "value": {"stringValue": "Hi"}}]},
                {"name": "gen_ai.choice", "attributes": [{"key": "message", "value": {"kvlistValue": {"values": [
                    {"key": "content", "value": {"stringValue": "Hello"}}]}}}]},
                {"name": "user_feedback", "attributes": [{"key": "feedback.score", "value": {"intValue": "1"}},
                                                          {"key": "feedback.id", "value": {"stringValue": "f1"}}]},
                {"name": "exception", "attributes": [{"key": "exception.type", "value": {"stringValue": "Timeout"}}]}],
        status={"code": 2})),
    "spans to quarantine: no id, zero trace id, no start, clock skew": traces_request(
        {**span(LLM), "spanId": ""}, {**span(LLM), "traceId": "0" * 32}, {**span(LLM), "startTimeUnixNano": None},
        {**span(LLM), "startTimeUnixNano": "1000"}),
    "attribute without a value, without a key, and an empty AnyValue": traces_request(span(LLM, attributes={
        **latest_llm_attributes()}) | {"attributes": [{"key": "gen_ai.provider.name", "value": {"stringValue": "x"}},
                                                      {"key": "novalue"}, {"value": {"stringValue": "nokey"}},
                                                      {"key": "empty", "value": {}}]}),
}


def _without_raw(records: list) -> list:
    """Quarantine rows keep the span as JSON: the typed path writes it without its empty fields."""
    return [(kind, {k: v for k, v in record.items() if k != "raw"}) for kind, record in records]


@pytest.mark.parametrize("request_", SPEC_SHAPED.values(), ids=SPEC_SHAPED.keys())
def test_the_typed_path_stages_exactly_what_the_dict_reader_stages(request_, settings):
    typed, by_dict = _both_readers(json.dumps(request_).encode(), settings)
    assert _without_raw(typed) == _without_raw(by_dict) and typed
    for (kind, typed_record), (_, dict_record) in zip(typed, by_dict, strict=True):
        if kind == "quarantine":
            assert json.loads(typed_record["raw"]).items() <= json.loads(dict_record["raw"]).items()


@pytest.mark.parametrize("request_", SPEC_SHAPED.values(), ids=SPEC_SHAPED.keys())
def test_the_typed_path_gives_the_landing_scan_the_same_times(request_):
    line = json.dumps(request_).encode()
    typed = list(document_times(Document(1, decode_trace_request(line), None, line)))
    assert typed == list(document_times(Document(1, orjson.loads(line), None, line)))


DEVIANT = {
    "snake_case keys": {"resource_spans": [{"scope_spans": [{"spans": [{"span_id": LLM}]}]}]},
    "a log export": {"resourceLogs": []},
    "an unknown span field": traces_request({**span(LLM), "newOtlpField": 1}),
    "a boolean as text": traces_request({**span(LLM), "attributes": [{"key": "b", "value": {"boolValue": "true"}}]}),
    "a float timestamp": traces_request({**span(LLM), "startTimeUnixNano": 1.5e18}),
    "attributes as a map": traces_request({**span(LLM), "attributes": {"gen_ai.system": "openai"}}),
    "an empty object": {},
}


@pytest.mark.parametrize("request_", DEVIANT.values(), ids=DEVIANT.keys())
def test_anything_but_a_spec_shaped_trace_export_is_left_to_the_lenient_reader(request_):
    assert decode_trace_request(json.dumps(request_).encode()) is None


def test_invalid_utf8_is_left_to_the_lenient_reader():
    assert decode_trace_request(json.dumps(traces_request(span(LLM))).encode().replace(b"span", b"sp\xe9n")) is None
