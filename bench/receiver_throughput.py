"""Receiver throughput: spans per second acknowledged (durable in the spool) over OTLP/HTTP protobuf,
OTLP/HTTP JSON and OTLP/gRPC, beside the floor, in one run.

The floor is ``ExportTraceServiceRequest.FromString`` + ``SerializeToString`` of the same batches in one
process: parsing and writing the bytes, nothing else. The receiver runs as ``eval-pipelines receive`` in its
own process; sender processes send the same batch of 512 GenAI spans again and again, encoded once by the
OpenTelemetry SDK's encoder and sent by the SDK exporter's own HTTP transport, or the gRPC stub its gRPC
exporter uses (the Python SDK has no OTLP/HTTP JSON exporter: the JSON senders post the batch as OTLP/JSON
with ``requests``, the HTTP client the SDK's exporter uses). Printed per transport:

- acknowledged spans/s (wall clock), and per CPU-second of the receiver's process, where requests are
  parsed, checked, spooled and acknowledged (the figure to set beside the floor: on a small machine the
  senders take CPU from the receiver);
- landed spans/s: until the last acknowledged span is in a landing file (the conversion to OTLP/JSON runs
  behind the acknowledgements, in the publishing processes);
- the peak RSS of the receiver and its publishing processes; requests refused (the backlog full: 503 /
  UNAVAILABLE); and a run where the landing folder cannot be written (a stalled disk): the backlog fills,
  requests are refused with ``Retry-After``, and memory stays flat.

    .venv/bin/python bench/receiver_throughput.py --seconds 15 --senders 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
from processes import tree_rss

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
BATCH = 512
TRANSPORTS = ("http/protobuf", "http/json", "grpc")


def _spans() -> list:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-assistant"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for number in range(BATCH):
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 820 + number,
                "gen_ai.usage.output_tokens": 140, "gen_ai.response.finish_reasons": ("stop",),
                "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"'
                                         + "where is my order? " * 12 + '"}]}]',
                "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"'
                                          + "It ships today. " * 15 + '"}]}]',
                "app.route": "/orders", "app.prompt_version": "v7"})
    return list(exporter.get_finished_spans())


def floor(seconds: float) -> float:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    body = encode_spans(_spans()).SerializeToString()
    batches, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        ExportTraceServiceRequest.FromString(body).SerializeToString()
        batches += 1
    return batches * BATCH / seconds


def _exporter_call(transport: str, endpoint: str):
    """One export of the same batch, sent by the SDK exporter's own transport (HTTP) or the gRPC stub the SDK's
    gRPC exporter uses, the batch encoded once by the SDK's encoder (encoding it on every call would measure the
    senders' CPU, not the receiver)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    request = encode_spans(_spans())
    if transport == "grpc":
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        stub = TraceServiceStub(grpc.insecure_channel(endpoint.removeprefix("http://")))
        return lambda: stub.Export(request, timeout=30) is not None
    if transport == "http/json":
        import orjson
        import requests

        from eval_pipelines.receiver.convert import message_as_dict

        session, body = requests.Session(), orjson.dumps(message_as_dict(request))
        return lambda: session.post(f"{endpoint}/v1/traces", data=body, timeout=30,
                                    headers={"Content-Type": "application/json"}).status_code == 200
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter, body = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), request.SerializeToString()
    return lambda: exporter._client.export(body).success


def _sender(transport: str, endpoint: str, seconds: float, results: multiprocessing.Queue) -> None:
    export = _exporter_call(transport, endpoint)
    ok = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            succeeded = export()
        except Exception:  # noqa: BLE001 - a refused gRPC call raises; count it like a refused HTTP one
            succeeded = False
        ok, failed = ok + succeeded, failed + (not succeeded)
    results.put((ok, failed))


class ReceiverProcess:
    def __init__(self, home: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eval_pipelines", "--home", str(home), "receive", "--http-port", "0",
             "--grpc-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.process.stdout:
            if match := re.match(r"OTLP receiver: (http://\S+) .*?, (\S+) \(gRPC\)", line):
                self.http, self.grpc = match.group(1), "http://" + match.group(2)
                break
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        self.watched = psutil.Process(self.process.pid)
        self.peak_rss = 0
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self._sampling:
            self.peak_rss = max(self.peak_rss, tree_rss(self.watched))
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        times = self.watched.cpu_times()
        return times.user + times.system

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"{self.http}/metrics") as response:
            text = response.read().decode()
        return sum(float(value) for value in re.findall(rf"^eval_pipelines_receiver_{name}(?:{{[^}}]*}})? (\S+)$",
                                                          text, re.M))

    def stop(self) -> None:
        self._sampling = False
        self.process.terminate()
        self.process.wait(60)


def run(transport: str, seconds: float, senders: int, stall_landing: bool = False) -> dict:
    home = Path(tempfile.mkdtemp(prefix="receiver-bench-"))
    if stall_landing:
        (home / "landing").mkdir(parents=True)
        (home / "landing" / "receiver").write_text("a file where the receiver's folder should be")
    receiver = ReceiverProcess(home)
    endpoint = receiver.grpc if transport == "grpc" else receiver.http
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_sender, args=(transport, endpoint, seconds, results))
                 for _ in range(senders)]
    cpu_before, started = receiver.cpu_seconds(), time.monotonic()
    for process in processes:
        process.start()
    outcomes = [results.get() for _ in processes]
    sent_for = time.monotonic() - started
    cpu_used = receiver.cpu_seconds() - cpu_before
    while not stall_landing and receiver.metric("backlog_bytes") > 0:
        time.sleep(0.05)
    landed_after = time.monotonic() - started
    acknowledged = sum(ok for ok, _ in outcomes) * BATCH
    result = {"acknowledged": acknowledged / sent_for, "per_cpu": acknowledged / max(cpu_used, 1e-9),
              "landed": acknowledged / landed_after, "peak_rss_mb": receiver.peak_rss / 2**20,
              "failed_exports": sum(failed for _, failed in outcomes),
              "refused": receiver.metric("refusals_total")}
    receiver.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="how long the senders send, per transport")
    parser.add_argument("--senders", type=int, default=3, help="sender processes")
    args = parser.parse_args()
    base = floor(args.seconds / 3)
    print(f"{psutil.cpu_count()} CPUs, {args.senders} sender processes, {args.seconds:g} s per transport, "
          f"batches of {BATCH} spans\n")
    print(f"{'':<34}{'ack spans/s':>12}{'per CPU-s':>11}{'landed/s':>10}{'peak MB':>9}{'refused':>9}")
    print(f"{'floor: FromString + Serialize':<34}{'':>12}{base:>11,.0f}{'':>10}{'':>9}{'':>9}")
    measured = {}
    for transport in TRANSPORTS:
        measured[transport] = figures = run(transport, args.seconds, args.senders)
        print(f"{transport:<34}{figures['acknowledged']:>12,.0f}{figures['per_cpu']:>11,.0f}"
              f"{figures['landed']:>10,.0f}{figures['peak_rss_mb']:>9,.0f}{figures['refused']:>9,.0f}", flush=True)
    stalled = run("http/protobuf", args.seconds, args.senders, stall_landing=True)
    print(f"{'http/protobuf, landing stalled':<34}{stalled['acknowledged']:>12,.0f}{stalled['per_cpu']:>11,.0f}"
          f"{'-':>10}{stalled['peak_rss_mb']:>9,.0f}{stalled['refused']:>9,.0f}")
    ratio = measured["http/protobuf"]["per_cpu"] / base
    print(f"\nHTTP/protobuf acknowledged per receiver CPU-second / floor: {ratio:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
