import gzip
import socket
import time

import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from eval_pipelines_tests.builders import log_event, logs_request, span, traces_request
from eval_pipelines_tests.receiver.conftest import (
    MEDIA,
    as_protobuf,
    get,
    landed_lines,
    landed_span_ids,
    post,
    start_receiver,
)


def test_the_sdk_exporters_spans_and_log_records_land(receiver, home):
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.http_url}/v1/traces")))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{receiver.http_url}/v1/logs")))
    sent = []
    with tracer_provider.get_tracer("app").start_as_current_span("chat gpt-4o") as current:
        sent.append(format(current.get_span_context().span_id, "016x"))
        logger_provider.get_logger("app").emit(body="the user message", event_name="gen_ai.user.message")
    receiver.stop()
    assert landed_span_ids(home.landing) == sent
    (record,) = [r for line in landed_lines(home.landing) for g in line.get("resourceLogs", [])
                 for s in g["scopeLogs"] for r in s["logRecords"]]
    assert record["body"] == {"stringValue": "the user message"} and record["spanId"] == sent[0]


@pytest.mark.parametrize("gzipped", [False, True])
def test_otlp_json_posted_by_hand_lands_as_sent(receiver, home, gzipped):
    request = traces_request(span("11" * 8), span("22" * 8, parent="11" * 8))
    status, headers, body = post(f"{receiver.http_url}/v1/traces", orjson.dumps(request), gzipped=gzipped)
    assert (status, headers["content-type"], orjson.loads(body)) == (200, MEDIA["json"], {})
    logs = logs_request(log_event("gen_ai.choice", "hello", "11" * 8))
    assert post(f"{receiver.http_url}/v1/logs", orjson.dumps(logs), gzipped=gzipped)[0] == 200
    receiver.stop()
    assert landed_lines(home.landing) == [request, logs]


def test_rejected_spans_are_reported_as_partial_success(receiver, home):
    request = traces_request(span("11" * 8), span("00" * 8))
    status, _, body = post(f"{receiver.http_url}/v1/traces", as_protobuf(request), MEDIA["protobuf"])
    response = ExportTraceServiceResponse.FromString(body)
    assert status == 200 and response.partial_success.rejected_spans == 1
    assert "span id" in response.partial_success.error_message
    receiver.stop()
    assert landed_span_ids(home.landing) == ["11" * 8]


A_REQUEST = orjson.dumps(traces_request(span("11" * 8)))


@pytest.mark.parametrize(("body", "headers", "status", "reason", "says"), [
    (b"\x0a\xff\xff", {"Content-Type": MEDIA["protobuf"]}, 400, "malformed", "not a protobuf"),
    (b'{"resourceSpans": [', {}, 400, "malformed", "not JSON"),
    (b"[]", {}, 400, "malformed", "not an OTLP/JSON"),
    (A_REQUEST, {"Content-Type": "text/plain"}, 415, "unsupported_media_type", "Content-Type"),
    (A_REQUEST, {"Content-Encoding": "br"}, 415, "unsupported_encoding", "Content-Encoding"),
    (gzip.compress(A_REQUEST)[:-9], {"Content-Encoding": "gzip"}, 400, "malformed", "truncated"),
    (b"not gzip", {"Content-Encoding": "gzip"}, 400, "malformed", "not valid gzip"),
    (b" " * 70_000, {}, 413, "too_large", "larger than"),
    (gzip.compress(b" " * 70_000), {"Content-Encoding": "gzip"}, 413, "too_large", "decompressed"),
    (A_REQUEST, {"Authorization": "Bearer wrong"}, 401, "unauthenticated", "token"),
    (A_REQUEST, {"Authorization": ""}, 401, "unauthenticated", "token"),
])
def test_a_request_that_cannot_be_taken_is_refused_with_the_status_the_spec_gives(home, body, headers, status,
                                                                                  reason, says):
    receiver = start_receiver(home, max_request_bytes=64_000, tokens=("s3cret", "next-s3cret"))
    try:
        all_headers = {"Content-Type": MEDIA["json"], "Authorization": "Bearer s3cret", **headers}
        got, response_headers, response = post(f"{receiver.http_url}/v1/traces", body, headers=all_headers)
        assert got == status
        if response_headers["content-type"] == MEDIA["protobuf"]:
            message = status_pb2.Status.FromString(response).message
        else:
            message = orjson.loads(response)["message"]
        assert says in message and "s3cret" not in message
        ok = post(f"{receiver.http_url}/v1/traces", A_REQUEST, headers={"Authorization": "Bearer next-s3cret"})
        assert ok[0] == 200, "the receiver goes on; the second token is as good as the first"
        assert f'reason="{reason}"' in get(f"{receiver.http_url}/metrics")[1]
    finally:
        receiver.stop()
    assert landed_span_ids(home.landing) == ["11" * 8]


def test_a_full_backlog_refuses_with_retry_after_and_accepts_again_once_it_drains(home):
    (home.landing / "receiver").write_text("a file where the receiver's folder should be")
    receiver = start_receiver(home, backlog_limit_bytes=100, rotate_seconds=0.05)
    try:
        assert post(f"{receiver.http_url}/v1/traces", A_REQUEST)[0] == 200
        status, headers, _ = post(f"{receiver.http_url}/v1/traces", A_REQUEST)
        assert (status, headers["retry-after"]) == (503, "5")
        assert get(f"{receiver.http_url}/readyz")[0] == 503, "a load balancer sends elsewhere meanwhile"
        assert get(f"{receiver.http_url}/healthz")[0] == 200, "but the process is alive: no restart"
        assert 'reason="overloaded"' in get(f"{receiver.http_url}/metrics")[1]
        (home.landing / "receiver").unlink()
        deadline = time.monotonic() + 10
        while post(f"{receiver.http_url}/v1/traces", A_REQUEST)[0] != 200:
            assert time.monotonic() < deadline, "the backlog never drained"
            time.sleep(0.2)
    finally:
        receiver.stop()
    assert landed_span_ids(home.landing) == ["11" * 8, "11" * 8]


def test_a_client_that_disconnects_mid_upload_costs_nothing(receiver, home):
    with socket.create_connection(("127.0.0.1", receiver.http_port)) as connection:
        connection.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 10000\r\n\r\n" + A_REQUEST[:20])
    assert post(f"{receiver.http_url}/v1/traces", A_REQUEST)[0] == 200
    receiver.stop()
    assert landed_span_ids(home.landing) == ["11" * 8]
