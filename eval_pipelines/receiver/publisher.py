"""Sealed spool segments become landing files: one OTLP/JSON-lines file per segment, named after it
(``<landing>/receiver/<owner>/<sequence>.jsonl``). In a folder it is written under a hidden name, fsynced
and renamed; in an object store it is uploaded whole (an object is visible only once complete). Either way
the landing sensor never sees half a file. Publishing a segment twice writes the same bytes under the same
name, so a crash between the write and the segment's deletion loses and duplicates nothing.
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

import fsspec

from eval_pipelines.landing_stores import is_object_store
from eval_pipelines.receiver.convert import landing_line
from eval_pipelines.receiver.spool import Segment, fsync_folder, read_frames

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


def landing_name(segment: Segment) -> str:
    """The landing file's path relative to the landing root."""
    return f"receiver/{segment.owner}/{segment.sequence}.jsonl"


def _write_durably(frames: list, path: Path) -> None:
    with open(path, "wb") as stream:
        for kind, payload in frames:
            stream.write(landing_line(kind, payload) + b"\n")
        stream.flush()
        os.fsync(stream.fileno())


def _write_into_folder(frames: list, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a publisher killed mid-write
        stale.unlink()
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    _write_durably(frames, temporary)
    os.replace(temporary, target)
    fsync_folder(target.parent)


def _upload(frames: list, segment: Segment, url: str) -> None:
    staged = segment.path.with_suffix(".upload")
    _write_durably(frames, staged)
    fs, path = fsspec.core.url_to_fs(url)
    fs.put_file(str(staged), path)
    staged.unlink()


def publish(segment: Segment, landing: str) -> tuple[str | None, int, int]:
    """Write ``segment`` as its landing file under ``landing`` (a folder or an object-store URL) and delete
    it. Returns the file's name (None for an empty segment), the requests in it and their payload bytes."""
    frames = list(read_frames(segment.path))
    name = None
    if frames:
        name = landing_name(segment)
        if is_object_store(landing):
            _upload(frames, segment, f"{landing.rstrip('/')}/{name}")
        else:
            _write_into_folder(frames, Path(landing) / name)
    segment.path.unlink()
    return name, len(frames), sum(len(payload) for _, payload in frames)


class Publisher:
    """Threads that publish sealed segments, each retrying a failed write until it succeeds (meanwhile the
    spool's backlog grows and the receiver refuses new requests). Once closing, a failed write is not
    retried: the segment stays in the spool, durable, for the next receiver to publish.

    With ``processes``, the conversion to JSON runs in that many worker processes, one segment each at a
    time, so it neither holds the receiver's interpreter lock while requests are acknowledged nor is limited
    to one core."""

    def __init__(self, landing: str, on_published: Callable[[Segment, int, int, float], None],
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

    def _publish(self, segment: Segment) -> tuple[str | None, int, int]:
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
                log.info("landed %s: %d requests in %.3f s", target, requests, seconds)
            self._on_published(segment, requests, payload_bytes, seconds)
            return
