"""The receiver's write-ahead spool: accepted payloads appended to segment files and fsynced before the
request is acknowledged.

Requests arriving together share one write and one fsync (group commit). Each payload is framed with its
length, kind and CRC-32, so a segment cut short by a crash (a payload written but never acknowledged) is
read up to its last whole frame. A segment is sealed (renamed ``.ready``) when it reaches the size or age
limit; the publisher turns sealed segments into landing files and deletes them. Each receiver process
owns one spool folder, held by an exclusive lock: the folders of processes that died are adopted by the
next receiver to start, which seals what they left and publishes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import socket
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from eval_pipelines.receiver.payloads import PayloadKind

log = logging.getLogger(__name__)
_FRAME = struct.Struct(">IBI")  # payload length, kind, CRC-32 of the payload
_OPEN, _READY = ".open", ".ready"


class Overloaded(RuntimeError):
    """More accepted data is waiting for its landing file than the backlog limit allows."""


def read_frames(path: Path) -> Iterator[tuple[PayloadKind, bytes]]:
    """The whole frames of a segment, in order; stops at the first torn or corrupt one."""
    data = path.read_bytes()
    position = 0
    while position + _FRAME.size <= len(data):
        length, kind, crc = _FRAME.unpack_from(data, position)
        payload = data[position + _FRAME.size:position + _FRAME.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc or kind not in PayloadKind._value2member_map_:
            return
        yield PayloadKind(kind), payload
        position += _FRAME.size + length


def whole_frames_size(path: Path) -> int:
    return sum(_FRAME.size + len(payload) for _, payload in read_frames(path))


@dataclass(frozen=True)
class Segment:
    """A sealed segment: ``<spool>/<owner>/<sequence>.ready``."""

    path: Path

    @property
    def owner(self) -> str:
        return self.path.parent.name

    @property
    def sequence(self) -> str:
        return self.path.name.removesuffix(_READY)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _try_lock(folder: Path) -> int | None:
    descriptor = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def seal_orphans(root: Path) -> list[Segment]:
    """Seal the segments of spool folders no live receiver holds (their process died): each is cut to its
    last whole frame. Returns every sealed segment of those folders, oldest first."""
    sealed: list[Segment] = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []:
        descriptor = _try_lock(folder)
        if descriptor is None:
            continue
        try:
            for segment in sorted(folder.glob(f"*{_OPEN}")):
                os.truncate(segment, whole_frames_size(segment))
                os.replace(segment, segment.with_suffix(_READY))
            _fsync_folder(folder)
            ready = [Segment(path) for path in sorted(folder.glob(f"*{_READY}"))]
            if not ready:
                remove_folder(folder)
            sealed += ready
        finally:
            os.close(descriptor)
    return sealed


def remove_folder(folder: Path) -> None:
    """Remove a spool folder that holds nothing but its lock."""
    (folder / "lock").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something new arrived, the next start adopts it
        folder.rmdir()


@dataclass
class _Pending:
    kind: PayloadKind
    payload: bytes
    future: Future[None]


class Spool:
    """This process's spool folder and the thread that appends to it."""

    def __init__(self, root: Path, rotate_bytes: int, rotate_seconds: float, backlog_limit_bytes: int,
                 on_sealed: Callable[[Segment], None]) -> None:
        self.folder = root / f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}"
        self.folder.mkdir(parents=True)
        self._lock_descriptor = _try_lock(self.folder)
        self.rotate_bytes, self.rotate_seconds = rotate_bytes, rotate_seconds
        self.backlog_limit_bytes = backlog_limit_bytes
        self._on_sealed = on_sealed
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._backlog = 0
        self._backlog_lock = threading.Lock()
        self._sequence = 0
        self._segment: Path | None = None
        self._stream = None
        self._opened_at = 0.0
        self.flush_seconds_total = 0.0
        self.flushes = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="receiver-spool", daemon=True)
        self._thread.start()

    @property
    def backlog_bytes(self) -> int:
        return self._backlog

    def submit(self, kind: PayloadKind, payload: bytes) -> Future[None]:
        """Queue ``payload``; the future completes once it is on disk. Raises :class:`Overloaded` when the
        backlog is full."""
        if self._stopped:
            raise OSError("the spool stopped after an error (see the receiver's log)")
        with self._backlog_lock:
            if self._backlog and self._backlog + len(payload) > self.backlog_limit_bytes:
                raise Overloaded(f"{self._backlog} bytes wait for their landing file")
            self._backlog += len(payload)
        future: Future[None] = Future()
        self._queue.put(_Pending(kind, payload, future))
        return future

    def published(self, payload_bytes: int) -> None:
        """The publisher wrote a landing file holding ``payload_bytes`` of accepted payloads."""
        with self._backlog_lock:
            self._backlog -= payload_bytes

    def close(self) -> None:
        """Write what is queued and seal the open segment."""
        self._queue.put(None)
        self._thread.join()

    def release(self) -> None:
        """Give the folder up once everything sealed is published (removing it when it is empty)."""
        if not any(self.folder.glob(f"*{_READY}")):
            remove_folder(self.folder)
        if self._lock_descriptor is not None:
            os.close(self._lock_descriptor)

    def _run(self) -> None:
        try:
            self._append_until_closed()
        except BaseException:
            log.exception("the spool stopped: requests are refused from now on")
            self._stopped = True
            raise

    def _append_until_closed(self) -> None:
        while True:
            timeout = None if self._segment is None else max(0.0, self._opened_at + self.rotate_seconds
                                                             - time.monotonic())
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._seal()
                continue
            batch, stop = self._drain(first)
            if batch:
                self._write(batch)
            if stop:
                self._seal()
                return
            if self._segment is not None and (self._stream.tell() >= self.rotate_bytes
                                              or time.monotonic() - self._opened_at >= self.rotate_seconds):
                self._seal()

    def _drain(self, first: _Pending | None) -> tuple[list[_Pending], bool]:
        batch: list[_Pending] = []
        item = first
        while True:
            if item is None:
                return batch, True
            batch.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _open(self) -> None:
        self._sequence += 1
        self._segment = self.folder / f"{self._sequence:012d}{_OPEN}"
        self._stream = open(self._segment, "ab")  # noqa: SIM115 - held across calls until sealed
        self._opened_at = time.monotonic()

    def _write(self, batch: list[_Pending]) -> None:
        if self._segment is None:
            self._open()
        started, start = time.perf_counter(), self._stream.tell()
        try:
            self._stream.write(b"".join(_FRAME.pack(len(p.payload), p.kind, zlib.crc32(p.payload)) + p.payload
                                        for p in batch))
            self._stream.flush()
            os.fsync(self._stream.fileno())
        except OSError as error:
            log.error("spool write failed (%s): %d requests refused", error, len(batch))
            self._abandon_tail(start)
            self.published(sum(len(p.payload) for p in batch))
            for pending in batch:
                pending.future.set_exception(error)
            return
        self.flush_seconds_total += time.perf_counter() - started
        self.flushes += 1
        for pending in batch:
            pending.future.set_result(None)

    def _abandon_tail(self, start: int) -> None:
        """After a failed write: drop its bytes and seal, so no later frame follows a torn one."""
        # Should the truncation fail too, frames are read only up to the first torn one: the acknowledged
        # frames before it stay readable.
        with contextlib.suppress(OSError):
            self._stream.truncate(start)
        self._seal()

    def _seal(self) -> None:
        if self._segment is None:
            return
        self._stream.close()
        ready = self._segment.with_suffix(_READY)
        os.replace(self._segment, ready)
        _fsync_folder(self.folder)
        self._segment = self._stream = None
        self._on_sealed(Segment(ready))
