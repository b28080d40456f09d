import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from eval_pipelines.receiver.payloads import PayloadKind
from eval_pipelines.receiver.spool import _FRAME
from eval_pipelines_tests.builders import span, traces_request
from eval_pipelines_tests.receiver.conftest import landed_span_ids, post, start_receiver

CLI = [sys.executable, "-m", "eval_pipelines"]


def _request(number: int) -> bytes:
    return orjson.dumps(traces_request(span(f"{number + 1:016x}", attributes={"padding": "x" * 2000})))


class ReceiverProcess:
    """``eval-pipelines receive`` in its own process, on ports it picks."""

    def __init__(self, home: Path, *flags: str, file_size_limit: int | None = None) -> None:
        def limit_file_size() -> None:  # a disk that fills up: writes past the limit fail with EFBIG
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        self.process = subprocess.Popen(
            [*CLI, "--home", str(home), "receive", "--http-port", "0", "--grpc-port", "0", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=limit_file_size if file_size_limit else None)
        for line in self.process.stdout:
            if match := re.match(r"OTLP receiver: (http://\S+) ", line):
                self.url = match.group(1)
                break
        else:
            raise AssertionError("the receiver did not start")
        threading.Thread(target=lambda: self.process.stdout.read(), daemon=True).start()


def _send_until_stopped(url: str, stop: threading.Event, first: int, acknowledged: list[int]) -> None:
    number = first
    while not stop.is_set():
        try:
            status = post(f"{url}/v1/traces", _request(number))[0]
        except OSError:
            return
        if status == 200:
            acknowledged.append(number)
        number += 4


def test_a_receiver_killed_mid_stream_loses_no_acknowledged_span(home):
    receiver = ReceiverProcess(home.root, "--rotate-seconds", "0.05")
    stop, acknowledged = threading.Event(), []
    with ThreadPoolExecutor(4) as senders:
        for first in range(4):
            senders.submit(_send_until_stopped, receiver.url, stop, first * 1_000_000, acknowledged)
        time.sleep(1.5)
        receiver.process.send_signal(signal.SIGKILL)
        receiver.process.wait()
        stop.set()
    assert len(acknowledged) > 5
    start_receiver(home).stop()  # the next receiver publishes what the killed one left in its spool
    landed = {int(span_id, 16) - 1 for span_id in landed_span_ids(home.landing)}  # no half file is visible
    assert set(acknowledged) <= landed
    assert not list(home.receiver_spool.glob("*")), "the adopted spool folder is gone once published"


def test_a_full_disk_refuses_requests_and_keeps_every_acknowledged_one(home):
    receiver = ReceiverProcess(home.root, "--rotate-seconds", "3600", file_size_limit=40_000)
    try:
        statuses = [post(f"{receiver.url}/v1/traces", _request(number))[0] for number in range(40)]
    finally:
        receiver.process.send_signal(signal.SIGTERM)
        receiver.process.wait(30)
    assert 503 in statuses and 200 in statuses
    assert statuses.index(200, statuses.index(503)), "a new spool segment takes requests again"
    landed = sorted(int(span_id, 16) - 1 for span_id in landed_span_ids(home.landing))
    assert landed == [number for number, status in enumerate(statuses) if status == 200]


def test_a_segment_cut_short_is_read_to_its_last_whole_frame(home):
    folder = home.receiver_spool / "dead-receiver"
    folder.mkdir(parents=True)
    frames = [_FRAME.pack(len(p), PayloadKind.TRACES_JSON, zlib.crc32(p)) + p for p in (_request(0), _request(1))]
    (folder / "000000000001.open").write_bytes(frames[0] + frames[1][:-5])
    start_receiver(home).stop()
    assert landed_span_ids(home.landing) == [f"{1:016x}"]
    assert not os.path.exists(folder)
