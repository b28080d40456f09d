"""Sealed spool segments become landing files: one OTLP/JSON-lines file per segment, named after it
(``<landing>/receiver/<owner>/<sequence>.jsonl``), written under a hidden name, fsynced and renamed, so the
landing sensor never sees half a file. Publishing a segment twice writes the same bytes under the same
name, so a crash between the rename and the segment's deletion loses and duplicates nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from eval_pipelines.receiver.convert import landing_line
from eval_pipelines.receiver.spool import Segment, read_frames

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


def landing_path(landing: Path, segment: Segment) -> Path:
    return landing / "receiver" / segment.owner / f"{segment.sequence}.jsonl"


def publish(segment: Segment, landing: Path) -> tuple[Path | None, int, int]:
    """Write ``segment`` as its landing file and delete it. Returns the file (None for an empty segment),
    the requests in it and the payload bytes they held."""
    frames = list(read_frames(segment.path))
    target = None
    if frames:
        target = landing_path(landing, segment)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a publisher killed mid-write
            stale.unlink()
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        with open(temporary, "wb") as stream:
            for kind, payload in frames:
                stream.write(landing_line(kind, payload) + b"\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        descriptor = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    segment.path.unlink()
    return target, len(frames), sum(len(payload) for _, payload in frames)


class Publisher:
    """Threads that publish sealed segments, each retrying a failed write until it succeeds (meanwhile the
    spool's backlog grows and the receiver refuses new requests). Once closing, a failed write is not
    retried: the segment stays in the spool, durable, for the next receiver to publish.

    With ``processes``, the conversion to JSON runs in that many worker processes, one segment each at a
    time, so it neither holds the receiver's interpreter lock while requests are acknowledged nor is limited
    to one core."""

    def __init__(self, landing: Path, on_published: Callable[[Segment, int, int, float], None],
                 processes: int = 0) -> None:
        self.landing = landing
        self._on_published = on_published
        self._queue: queue.SimpleQueue[Segment | None] = queue.SimpleQueue()
        self.failures = 0
        self._closing = threading.Event()
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) \
            if processes else None
        self._threads = [threading.Thread(target=self._run, name=f"receiver-publisher-{number}", daemon=True)
                         for number in range(max(1, processes))]
        for thread in self._threads:
            thread.start()

    def add(self, segment: Segment) -> None:
        self._queue.put(segment)

    def close(self) -> None:
        """Publish everything added so far that can be written, then stop."""
        self._closing.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        if self._pool is not None:
            self._pool.shutdown()

    def _run(self) -> None:
        while (segment := self._queue.get()) is not None:
            self._publish_until_done(segment)

    def _publish(self, segment: Segment) -> tuple[Path | None, int, int]:
        if self._pool is None:
            return publish(segment, self.landing)
        return self._pool.submit(publish, segment, self.landing).result()

    def _publish_until_done(self, segment: Segment) -> None:
        while True:
            started = time.perf_counter()
            try:
                target, requests, payload_bytes = self._publish(segment)
            except OSError as error:
                self.failures += 1
                if self._closing.is_set():
                    log.error("cannot write the landing file of %s (%s); it stays in the spool for the next "
                              "receiver", segment.path, error)
                    return
                log.error("cannot write the landing file of %s (%s); retrying in %.0f s", segment.path, error,
                          RETRY_SECONDS)
                self._closing.wait(RETRY_SECONDS)
                continue
            seconds = time.perf_counter() - started
            if target is not None:
                log.info("landed %s: %d requests in %.3f s", target.relative_to(self.landing), requests, seconds)
            self._on_published(segment, requests, payload_bytes, seconds)
            return
