"""Sealed spool segments become landing files: one OTLP/JSON-lines file per segment, named after it
(``<landing>/receiver/<owner>/<sequence>.jsonl``), written under a hidden name, fsynced and renamed, so the
landing sensor never sees half a file. Publishing a segment twice writes the same bytes under the same
name, so a crash between the rename and the segment's deletion loses and duplicates nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
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
    """The thread that publishes sealed segments in order, retrying a failed write until it succeeds
    (meanwhile the spool's backlog grows and the receiver refuses new requests)."""

    def __init__(self, landing: Path, on_published: Callable[[Segment, int, int, float], None]) -> None:
        self.landing = landing
        self._on_published = on_published
        self._queue: queue.SimpleQueue[Segment | None] = queue.SimpleQueue()
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="receiver-publisher", daemon=True)
        self._thread.start()

    def add(self, segment: Segment) -> None:
        self._queue.put(segment)

    def close(self) -> None:
        """Publish everything added so far, then stop."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (segment := self._queue.get()) is not None:
            self._publish_until_done(segment)

    def _publish_until_done(self, segment: Segment) -> None:
        while True:
            started = time.perf_counter()
            try:
                target, requests, payload_bytes = publish(segment, self.landing)
            except OSError as error:
                self.failures += 1
                log.error("cannot write the landing file of %s (%s); retrying in %.0f s", segment.path, error,
                          RETRY_SECONDS)
                time.sleep(RETRY_SECONDS)
                continue
            seconds = time.perf_counter() - started
            if target is not None:
                log.info("landed %s: %d requests in %.3f s", target.relative_to(self.landing), requests, seconds)
            self._on_published(segment, requests, payload_bytes, seconds)
            return
