"""The landing folder and its index: which file holds data for which hours.

Every landing file gets one index entry (a small JSON file under ``<home>/index/landing/``, or in the
lake's ``_state/landing-index/`` when the lake is in an object store) with its content hash and the hours
its spans and log records fall in. The entry is a cache of a pure function of the file's bytes, so any
process may (re)write it; each write replaces it whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import fsspec
import orjson
from fsspec.implementations.local import LocalFileSystem

from eval_pipelines.landing_stores import FolderLanding, LandingFiles, Listed
from eval_pipelines.parsing.files import iter_documents
from eval_pipelines.parsing.records import HOUR_NS, Window, document_times

# How far after its file landed a span may start (IngestionSettings.max_future_skew_hours, default).
DEFAULT_FUTURE_SKEW_NS = 24 * HOUR_NS
# A file modified this recently may still be being written: the scan waits for it, and ingestion reads a
# known file only as far as it was indexed.
QUIET_SECONDS = 2.0


@dataclass(frozen=True)
class LandedFile:
    """Index entry of one landing file."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    hours: tuple[int, ...]
    first_ns: int | None
    last_ns: int | None
    quarantine_hour: int
    documents: int = 0
    unreadable_documents: int = 0
    future_skew_ns: int = DEFAULT_FUTURE_SKEW_NS

    def is_current(self, listed: Listed, future_skew_ns: int = DEFAULT_FUTURE_SKEW_NS) -> bool:
        """Same size and modification time as when indexed (a rewrite with new bytes changes both), read with
        the same clock-skew allowance."""
        return (self.size, self.mtime_ns, self.future_skew_ns) == (listed.size, listed.mtime_ns, future_skew_ns)

    @property
    def hours_to_build(self) -> tuple[int, ...]:
        """Hours whose partitions this file contributes to (its data, plus where its bad lines go)."""
        return tuple(sorted({*self.hours, self.quarantine_hour}))

    def overlaps(self, window: Window) -> bool:
        in_data = self.first_ns is not None and self.last_ns is not None and window.overlaps(
            self.first_ns, self.last_ns)
        return in_data or window.contains(self.quarantine_hour * HOUR_NS)


@dataclass
class Refresh:
    """What changed in the landing folder since the index was last refreshed."""

    new: list[LandedFile] = field(default_factory=list)
    changed: list[tuple[LandedFile, LandedFile]] = field(default_factory=list)
    unchanged: int = 0
    waiting: list[str] = field(default_factory=list)
    unusable: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) of files that cannot be indexed now: tried again on the next refresh."""

    @property
    def touched(self) -> list[LandedFile]:
        return self.new + [new for _, new in self.changed]

    def hours_to_build(self) -> dict[int, set[str]]:
        """Hour index -> content hashes that made it need a build (old content of changed files too)."""
        hours: dict[int, set[str]] = {}
        for entry in self.new:
            for hour in entry.hours_to_build:
                hours.setdefault(hour, set()).add(entry.sha256)
        for old, new in self.changed:
            for hour in {*old.hours_to_build, *new.hours_to_build}:
                hours.setdefault(hour, set()).add(new.sha256)
        return hours


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_file(landing: Path, path: Path, future_skew_ns: int = DEFAULT_FUTURE_SKEW_NS) -> LandedFile:
    """Read ``path`` once (streaming) to find the hours of everything dated in it, up to ``future_skew_ns``
    after it landed (later items are quarantined, so their hours are not the file's)."""
    stat = path.stat()
    hours: set[int] = set()
    first = last = None
    documents = unreadable = 0
    for document in iter_documents(path):
        documents += 1
        if document.error is not None:
            unreadable += 1
            continue
        for start, end in document_times(document, stat.st_mtime_ns + future_skew_ns):
            hours.add(start // HOUR_NS)
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
    landed_hour = stat.st_mtime_ns // HOUR_NS
    return LandedFile(
        path=path.relative_to(landing).as_posix(), size=stat.st_size, mtime_ns=stat.st_mtime_ns,
        sha256=sha256_of(path), hours=tuple(sorted(hours)), first_ns=first, last_ns=last,
        quarantine_hour=min(hours) if hours else landed_hour, documents=documents,
        unreadable_documents=unreadable, future_skew_ns=future_skew_ns,
    )


class IndexEntries:
    """Where index entries are kept: a folder (written by atomic renames), or an object-store prefix (each entry
    one object, replaced whole by its upload)."""

    def __init__(self, location: str | Path) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(str(location))
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def _path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{hashlib.sha1(relative.encode()).hexdigest()}.json"

    def load(self, relative: str) -> LandedFile | None:
        try:
            data = orjson.loads(self.fs.cat_file(self._path(relative)))
        except (OSError, orjson.JSONDecodeError):
            return None
        data["hours"] = tuple(data["hours"])
        return LandedFile(**data)

    def save(self, entry: LandedFile) -> None:
        target, data = self._path(entry.path), orjson.dumps(asdict(entry))
        if not self.is_local:
            self.fs.pipe_file(target, data)
            return
        Path(self.root).mkdir(parents=True, exist_ok=True)
        temporary = f"{target}.tmp-{os.getpid()}"
        Path(temporary).write_bytes(data)
        os.replace(temporary, target)


class HoursJournal:
    """The hours with new landing content, kept until a reader acknowledges them. A refresh writes its hours here
    before it saves the index entries that make its files known, and a reader (the landing sensor) acknowledges
    them by the mark in its cursor: a reader whose result is lost (an evaluation timed out, a daemon restarted)
    leaves its cursor where it was, and the next one reads the same hours again."""

    def __init__(self, location: str | Path) -> None:
        self.fs, root = fsspec.core.url_to_fs(str(location))
        self.root = f"{root.rstrip('/')}/unrequested"

    def append(self, hours: dict[int, set[str]]) -> None:
        if not hours:
            return
        self.fs.makedirs(self.root, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}.json"
        self.fs.pipe_file(f"{self.root}/{name}", orjson.dumps({str(h): sorted(v) for h, v in hours.items()}))

    def _names(self) -> list[str]:
        try:
            return sorted(Path(path).name for path in self.fs.ls(self.root, detail=False))
        except FileNotFoundError:
            return []

    def after(self, mark: str | None) -> tuple[dict[int, set[str]], str | None]:
        """The hours written after ``mark`` (all of them for ``None``), and the mark that acknowledges them."""
        hours: dict[int, set[str]] = {}
        names = [name for name in self._names() if mark is None or name > mark]
        for name in names:
            try:
                written = orjson.loads(self.fs.cat_file(f"{self.root}/{name}"))
            except orjson.JSONDecodeError:  # torn by a crash: its files were not saved, so they are scanned again
                continue
            for hour, hashes in written.items():
                hours.setdefault(int(hour), set()).update(hashes)
        return hours, names[-1] if names else mark

    def forget_through(self, mark: str | None) -> None:
        """Drop what ``mark`` acknowledges (read by a reader whose cursor was saved)."""
        for name in self._names():
            if mark is not None and name <= mark:
                self.fs.rm_file(f"{self.root}/{name}")


class LandingIndex:
    def __init__(self, landing: Path | LandingFiles, index_location: str | Path,
                 future_skew_ns: int = DEFAULT_FUTURE_SKEW_NS) -> None:
        self.files = FolderLanding(landing) if isinstance(landing, Path) else landing
        self.entries = IndexEntries(index_location)
        self.journal = HoursJournal(index_location)
        self.future_skew_ns = future_skew_ns

    @property
    def landing(self) -> Path:
        """The local folder the indexed files are read from (an object store's mirror)."""
        return self.files.local_folder

    def load(self, relative: str) -> LandedFile | None:
        return self.entries.load(relative)

    def save(self, entry: LandedFile) -> None:
        self.entries.save(entry)

    def landing_files(self) -> list[Path]:
        return [self.files.local_path(listed) for listed in self.files.listing()]

    def _scan(self, listed: Listed) -> LandedFile:
        return scan_file(self.landing, self.files.local_path(listed), self.future_skew_ns)

    def _usable(self, listing: list[Listed]) -> tuple[list[Listed], list[tuple[str, str]]]:
        """The files whose names can be stored, and the others with the reason."""
        usable, unusable = [], []
        for listed in listing:
            try:
                listed.relative.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(listed.relative).decode("utf-8", "backslashreplace")
                unusable.append((shown, "the file name is not valid UTF-8: rename the file"))
                continue
            usable.append(listed)
        return usable, unusable

    def current_entries(self) -> list[LandedFile]:
        """An entry for every landing file: the saved one if the file is unchanged, or is growing and was
        modified in the last ``QUIET_SECONDS`` (a writer appending: it is read only as far as it was indexed,
        and the sensor requests the rest once it settles); else scanned afresh (not saved: saving is the
        sensor's job, so that it still sees the file as new)."""
        entries, now_ns = [], time.time_ns()
        for listed in self._usable(self.files.listing())[0]:
            known = self.load(listed.relative)
            recent = self.files.growing and now_ns - listed.mtime_ns < QUIET_SECONDS * 1e9
            keep = known is not None and (known.is_current(listed, self.future_skew_ns)
                                          or (recent and listed.size >= known.size))
            if keep:
                entries.append(known)
                continue
            with contextlib.suppress(OSError):  # gone or unreadable since it was listed: the sensor reports it
                entries.append(self._scan(listed))
        return entries

    def entries_for(self, window: Window) -> list[LandedFile]:
        return [e for e in self.current_entries() if e.overlaps(window)]

    def local_folder_for(self, entries: list[LandedFile]) -> Path:
        """The folder to read ``entries`` from, with a local copy of each (an object store's are downloaded
        into the mirror unless already there)."""
        for entry in entries:
            self.files.local_path(Listed(entry.path, entry.size, entry.mtime_ns))
        return self.landing

    def refresh(self, quiet_seconds: float = 0.0, budget_seconds: float | None = None) -> Refresh:
        """Scan and save new and changed files (by size and mtime), their hours written to the journal first.
        Files written to in the last ``quiet_seconds`` wait; past ``budget_seconds`` the rest waits for the next
        call."""
        now_ns = time.time_ns()
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        listing, unusable = self._usable(self.files.listing())
        refresh, scanned = Refresh(unusable=unusable), []
        for listed in listing:
            if deadline is not None and time.monotonic() > deadline:
                refresh.waiting.append(listed.relative)
                continue
            known = self.load(listed.relative)
            if known and known.is_current(listed, self.future_skew_ns):
                refresh.unchanged += 1
                continue
            if self.files.growing and now_ns - listed.mtime_ns < quiet_seconds * 1e9:
                refresh.waiting.append(listed.relative)
                continue
            try:
                entry = self._scan(listed)
            except FileNotFoundError:  # deleted or renamed since it was listed (a Collector rotating files)
                continue
            except OSError as error:  # unreadable now (permissions, I/O): not indexed, so tried again next time
                refresh.unusable.append((listed.relative, f"cannot read the file: {error.strerror or error}"))
                continue
            if known is None:
                refresh.new.append(entry)
            elif (known.sha256, known.hours) != (entry.sha256, entry.hours):  # new bytes, or read anew
                refresh.changed.append((known, entry))
            else:
                refresh.unchanged += 1
            scanned.append(entry)
        self.journal.append(refresh.hours_to_build())
        for entry in scanned:
            self.save(entry)
        return refresh
