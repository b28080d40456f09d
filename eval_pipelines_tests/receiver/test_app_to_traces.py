import json
import os
import subprocess
import sys
import time

import pytest

from eval_pipelines.ingestion import build_hours
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.receiver.conftest import start_receiver

REQUESTS = 6


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_instrumented_app_sending_to_the_receiver_becomes_trace_rows(home, index, settings, prices, con,
                                                                       protocol):
    receiver = start_receiver(home, tokens=("s3cret",))
    first_hour = time.time_ns() // HOUR_NS
    endpoint = receiver.http_url if protocol != "grpc" else f"http://{receiver.grpc_target}"
    environment = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                   "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20s3cret"}
    try:
        subprocess.run([sys.executable, "-m", "eval_pipelines", "--home", str(home.root), "demo-app", "--requests",
                        str(REQUESTS)], env=environment, check=True, capture_output=True, timeout=120)
    finally:
        receiver.stop()
    index.refresh()
    built = build_hours(index, first_hour, time.time_ns() // HOUR_NS, settings, prices, con)
    rows = [row for hour in built for row in hour.traces.to_pylist()]
    assert len(rows) == REQUESTS
    assert {(row["route"], row["prompt_version"], row["service_name"]) for row in rows} == {
        ("/chat", "v6", "support-assistant")}
    questions = sorted(json.loads(row["input_messages"])[-1]["parts"][0]["content"] for row in rows)
    assert "Where is my order 1042?" in questions and all(row["output_text"] for row in rows)
    assert not any(hour.quarantine.num_rows for hour in built)
