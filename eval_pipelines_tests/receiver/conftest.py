import base64
import copy
import gzip
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from eval_pipelines.home import Home
from eval_pipelines.receiver.server import Receiver
from eval_pipelines.receiver.settings import ReceiverSettings

_ID_KEYS = ("traceId", "spanId", "parentSpanId")
MEDIA = {"protobuf": "application/x-protobuf", "json": "application/json"}


def start_receiver(home: Home, **settings: Any) -> Receiver:
    options = {"http_port": 0, "grpc_port": 0, "rotate_seconds": 0.2, **settings}
    return Receiver(ReceiverSettings(**options), home.landing_location, home.receiver_spool).start()


@pytest.fixture
def receiver(home: Home) -> Iterator[Receiver]:
    running = start_receiver(home)
    yield running
    running.stop()


def _ids_to_base64(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: base64.b64encode(bytes.fromhex(v)).decode() if k in _ID_KEYS else _ids_to_base64(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_to_base64(item) for item in value]
    return value


def as_protobuf(request: dict[str, Any]) -> bytes:
    """An OTLP/JSON request dict (hex ids) as the protobuf an SDK exporter sends."""
    message = ExportTraceServiceRequest() if "resourceSpans" in request else ExportLogsServiceRequest()
    return ParseDict(_ids_to_base64(copy.deepcopy(request)), message).SerializeToString()


def body_of(request: dict[str, Any], encoding: str) -> bytes:
    return as_protobuf(request) if encoding == "protobuf" else orjson.dumps(request)


def post(url: str, body: bytes, content_type: str = MEDIA["json"], gzipped: bool = False,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    all_headers = {"Content-Type": content_type, **(headers or {})}
    if gzipped:
        body, all_headers["Content-Encoding"] = gzip.compress(body), "gzip"
    request = urllib.request.Request(url, data=body, headers=all_headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def landed_lines(landing: Path) -> list[dict[str, Any]]:
    """Every line of the receiver's landing files, parsed; the files are complete (no hidden leftovers)."""
    folder = landing / "receiver"
    assert not [p for p in folder.rglob(".*") if p.is_file()], "a half-written landing file is left"
    return [orjson.loads(line) for path in sorted(folder.rglob("*.jsonl")) for line in path.read_bytes().splitlines()]


def landed_span_ids(landing: Path) -> list[str]:
    return [span["spanId"] for line in landed_lines(landing) for group in line.get("resourceSpans", [])
            for scope in group["scopeSpans"] for span in scope["spans"]]
