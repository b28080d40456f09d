"""The receiver's write-ahead spool: accepted payloads appended to segment files and fsynced before the
request is acknowledged.

Requests arriving together share one write and one fsync (group commit). Each payload is framed with its
length, kind and CRC-32, so a segment cut short by a crash (a payload written but never acknowledged) is
read up to its last whole frame. A segment is sealed (renamed ``.ready``) when it reaches the size or age
limit; the publisher turns sealed segments into landing files and deletes them. Each receiver process
owns one spool folder, held by an exclusive lock: the folders of processes that died are adopted by the
next receiver to start (on the same volume), which seals what they left, publishes it and removes them.
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


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
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


class AdoptedFolder:
    """The spool folder of a receiver that died, held (locked) until its segments are published."""

    def __init__(self, folder: Path, lock_descriptor: int, segments: list[Segment]) -> None:
        self.folder, self._lock_descriptor = folder, lock_descriptor
        self.segments = segments
        self._left = {segment.path for segment in segments}
        self._guard = threading.Lock()  # publisher threads finish segments concurrently

    def published(self, segment: Segment) -> None:
        with self._guard:
            if segment.path not in self._left:
                return
            self._left.discard(segment.path)
            if not self._left:
                remove_folder(self.folder)
                os.close(self._lock_descriptor)


def adopt_orphans(root: Path) -> list[AdoptedFolder]:
    """Take over the spool folders no live receiver holds (their process died): each open segment is cut
    to its last whole frame and sealed. Folders left with nothing to publish are removed."""
    adopted: list[AdoptedFolder] = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []:
        descriptor = _try_lock(folder)
        if descriptor is None:
            continue
        for segment in sorted(folder.glob(f"*{_OPEN}")):
            os.truncate(segment, whole_frames_size(segment))
            os.replace(segment, segment.with_suffix(_READY))
        fsync_folder(folder)
        orphan = AdoptedFolder(folder, descriptor, [Segment(path) for path in sorted(folder.glob(f"*{_READY}"))])
        if orphan.segments:
            adopted.append(orphan)
        else:
            remove_folder(folder)
            os.close(descriptor)
    return adopted


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
        self._descriptor = -1
        self._size = 0
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
        except Exception as error:
            log.exception("the spool stopped: requests are refused from now on")
            self._stopped = True
            while not self._queue.empty():
                if (pending := self._queue.get()) is not None:
                    pending.future.set_exception(OSError(f"the spool stopped: {error}"))

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
            if self._segment is not None and (self._size >= self.rotate_bytes
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
        self._descriptor = os.open(self._segment, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        self._opened_at = time.monotonic()

    def _write(self, batch: list[_Pending]) -> None:
        if self._segment is None:
            self._open()
        started = time.perf_counter()
        data = memoryview(b"".join(_FRAME.pack(len(p.payload), p.kind, zlib.crc32(p.payload)) + p.payload
                                   for p in batch))
        try:
            written = 0
            while written < len(data):  # a write may be partial (a disk filling up) before one fails
                written += os.write(self._descriptor, data[written:])
            os.fsync(self._descriptor)
        except OSError as error:
            log.error("spool write failed (%s): %d requests refused", error, len(batch))
            self.published(sum(len(p.payload) for p in batch))
            for pending in batch:
                pending.future.set_exception(error)
            self._abandon_tail()
            return
        self._size += len(data)
        self.flush_seconds_total += time.perf_counter() - started
        self.flushes += 1
        for pending in batch:
            pending.future.set_result(None)

    def _abandon_tail(self) -> None:
        """After a failed write: drop its bytes and seal, so no later frame follows a torn one."""
        # Should the truncation fail too, frames are read only up to the first torn one: the acknowledged
        # frames before it stay readable.
        with contextlib.suppress(OSError):
            os.ftruncate(self._descriptor, self._size)
        self._seal()

    def _seal(self) -> None:
        if self._segment is None:
            return
        os.close(self._descriptor)
        ready = self._segment.with_suffix(_READY)
        os.replace(self._segment, ready)
        fsync_folder(self.folder)
        self._segment = None
        self._on_sealed(Segment(ready))
