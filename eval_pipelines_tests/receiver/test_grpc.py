import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from eval_pipelines_tests.builders import span, traces_request
from eval_pipelines_tests.receiver.conftest import as_protobuf, landed_lines, landed_span_ids, start_receiver

TOKEN = (("authorization", "Bearer s3cret"),)


@pytest.fixture
def receiver(home):
    running = start_receiver(home, tokens=("s3cret",), max_request_bytes=64_000)
    yield running
    running.stop()


def test_the_sdk_grpc_exporters_spans_and_log_records_land(receiver, home):
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=receiver.grpc_target, insecure=True, headers=TOKEN, compression=grpc.Compression.Gzip)))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=receiver.grpc_target, insecure=True, headers=TOKEN)))
    with tracer_provider.get_tracer("app").start_as_current_span("chat") as current:
        span_id = format(current.get_span_context().span_id, "016x")
        logger_provider.get_logger("app").emit(body="hello", event_name="gen_ai.user.message")
    receiver.stop()
    assert landed_span_ids(home.landing) == [span_id]
    assert sum("resourceLogs" in line for line in landed_lines(home.landing)) == 1


def _export(receiver, body: bytes, metadata=TOKEN) -> bytes:
    with grpc.insecure_channel(receiver.grpc_target) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        return call(body, metadata=metadata, timeout=30)


@pytest.mark.parametrize(("body", "metadata", "code"), [
    (as_protobuf(traces_request(span("11" * 8))), (), grpc.StatusCode.UNAUTHENTICATED),
    (as_protobuf(traces_request(span("11" * 8))), (("authorization", "Bearer nope"),), grpc.StatusCode.UNAUTHENTICATED),
    (b"\x0a\xff\xff", TOKEN, grpc.StatusCode.INVALID_ARGUMENT),
    (b"\x0a" + b"\x00" * 70_000, TOKEN, grpc.StatusCode.RESOURCE_EXHAUSTED),
], ids=["no token", "wrong token", "malformed", "too large"])
def test_a_request_that_cannot_be_taken_gets_the_status_code_the_spec_gives(receiver, home, body, metadata, code):
    with pytest.raises(grpc.RpcError) as refused:
        _export(receiver, body, metadata)
    assert refused.value.code() == code
    response = ExportTraceServiceResponse.FromString(_export(receiver, as_protobuf(traces_request(
        span("11" * 8), span("00" * 8)))))
    assert response.partial_success.rejected_spans == 1
    receiver.stop()
    assert landed_span_ids(home.landing) == ["11" * 8]
