"""Build ``traces``, ``trace_quarantine``, ``feedback_events`` and ``tool_spans`` rows for a time window from the
landing files.

Each landing file is parsed once: its records are staged as Parquet in a cache folder named by the file's
path, content and the ingestion settings (``<home>/staging/<key>/``), and every later build of an hour it
touches reads the staged records instead of the file. A live run that finds one new file therefore parses
that file alone, then assembles the hour from staged records (a set-based DuckDB query), so the work of a
run grows with the new data, not with the hour. A rebuild from scratch stages the same files into the same
records, so increments and one batch give the same rows.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.landing import LandedFile, LandingIndex
from eval_pipelines.parsing.assemble import StagedFolders, assemble_traces, span_id_conflicts
from eval_pipelines.parsing.files import iter_documents, iter_range, splittable
from eval_pipelines.parsing.records import HOUR_NS, LAKE_START_NS, Extractor, Window
from eval_pipelines.parsing.staging import StagingWriter
from eval_pipelines.schemas import FEEDBACK_EVENTS, TOOL_SPANS, TRACE_CONTENT, TRACE_QUARANTINE, TRACES
from eval_pipelines.settings import IngestionSettings, PriceTable

CHUNK_BYTES = 32 * 1024 * 1024
PARALLEL_BYTES = 64 * 1024 * 1024
# What staging writes: a cached folder of another format is staged again, never read.
STAGING_FORMAT = "3"
# A cached folder no build has used for this long is removed (a rebuild of an older hour stages again).
STAGING_RETENTION_SECONDS = 2 * 24 * 3600
# Staging reads every record of a file, whatever the hours being built: the cache serves every later build.
ALL_TIME = Window(LAKE_START_NS, 2**63)


@dataclass
class HourBuild:
    hour: int
    traces: pa.Table
    quarantine: pa.Table
    feedback: pa.Table
    tools: pa.Table
    built_at_us: int

    @property
    def new_rows(self) -> pa.Table:
        """The rows this build made (new or changed content): those stamped with its ``ingested_at``."""
        stamp = pa.scalar(self.built_at_us, pa.int64()).cast(TRACES.field("ingested_at").type)
        return self.traces.filter(pc.equal(self.traces.column("ingested_at"), stamp))


@dataclass
class WindowStats:
    files: list[str] = field(default_factory=list)
    cached_files: int = 0
    documents: int = 0
    staged: dict[str, int] = field(default_factory=dict)

    @property
    def spans_staged(self) -> int:
        return self.staged.get("llm", 0) + self.staged.get("tree", 0)  # a tool span is also a tree row


def window_of_hours(first_hour: int, last_hour: int) -> Window:
    return Window(first_hour * HOUR_NS, (last_hour + 1) * HOUR_NS)


def staging_key(entry: LandedFile, settings: IngestionSettings) -> str:
    """The cache folder of one landing file's staged records: its path and content as indexed, and the
    settings that decide what staging extracts."""
    parts = (STAGING_FORMAT, entry.path, entry.sha256, str(entry.size), settings.model_dump_json())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StagingTask:
    """One slice of parsing work: a whole file, or a byte range of a large JSON-lines file."""

    entry: LandedFile
    start: int = 0
    end: int | None = None
    lines_before: int = 0


def _is_split(entry: LandedFile, landing: Path) -> bool:
    return entry.size > CHUNK_BYTES and splittable(landing / entry.path)


def _task_count(entries: list[LandedFile], landing: Path) -> int:
    return sum(-(-entry.size // CHUNK_BYTES) if _is_split(entry, landing) else 1 for entry in entries)


def _tasks(entries: list[LandedFile], landing: Path) -> Iterator[StagingTask]:
    """Tasks in file order, produced lazily: the newlines before each byte range are counted while the
    workers already parse the ranges before it, so the count adds no wait of its own."""
    for entry in entries:
        if not _is_split(entry, landing):
            yield StagingTask(entry)
            continue
        lines_before = 0
        with open(landing / entry.path, "rb") as stream:
            for start in range(0, entry.size, CHUNK_BYTES):
                yield StagingTask(entry, start, min(start + CHUNK_BYTES, entry.size), lines_before)
                lines_before += stream.read(CHUNK_BYTES).count(b"\n")


@dataclass(frozen=True)
class StagedTask:
    task: StagingTask
    documents: int
    staged: dict[str, int]


def stage_task(task: StagingTask, folder: Path, landing: Path, settings: IngestionSettings) -> StagedTask:
    """Parse one task into its own staging folder."""
    path = landing / task.entry.path
    documents = (iter_documents(path, limit=task.entry.size) if task.end is None
                 else iter_range(path, task.start, task.end, task.lines_before))
    extractor = Extractor(settings, task.entry.path, ALL_TIME, with_quarantine=True, landed_ns=task.entry.mtime_ns)
    read = 0
    # Parsing allocates millions of short-lived, acyclic dicts: the cyclic collector would only
    # rescan them (about a quarter of the parse time), so it is paused while parsing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with StagingWriter(folder) as writer:
            for document in documents:
                read += 1
                extractor.extract(document, writer)
    finally:
        if gc_was_enabled:
            gc.enable()
    return StagedTask(task, read, writer.counts)


def _stage_alongside_helpers(jobs: Iterator[tuple[StagingTask, Path]], helpers: int,
                             stage: Callable[[StagingTask, Path], StagedTask]) -> list[StagedTask]:
    """Every job staged by this process and ``helpers`` spawned processes together, each taking the next
    job when it is free. This process starts at once, while the helpers are still starting up (importing
    takes them about half a second), and no core waits for a helper."""
    lock = threading.Lock()
    failed = threading.Event()
    results: list[StagedTask] = []

    def next_job() -> tuple[StagingTask, Path] | None:
        with lock:
            return None if failed.is_set() else next(jobs, None)

    def keep_helpers_busy(pool: ProcessPoolExecutor) -> None:
        pending: set[Future[StagedTask]] = set()
        try:
            while True:
                while len(pending) < helpers and (job := next_job()) is not None:
                    pending.add(pool.submit(stage, *job))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                results.extend(future.result() for future in done)
        except BaseException:
            failed.set()
            raise

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=helpers, mp_context=context) as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="staging-helpers") as feeder:
        fed = feeder.submit(keep_helpers_busy, pool)
        try:
            while (job := next_job()) is not None:
                results.append(stage(*job))
        except BaseException:
            failed.set()
            raise
        fed.result()
    return results


class StagingCache:
    """``<root>/<key>/part-<byte offset>/``: the staged records of each landing file, written under a
    temporary name and renamed into place whole, so a folder that exists is complete."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, key: str) -> Path:
        return self.root / key

    def is_staged(self, key: str) -> bool:
        return self.folder(key).is_dir()

    @contextmanager
    def filling(self, keys: list[str]) -> Iterator[dict[str, Path]]:
        """Temporary folders for ``keys``; on success each is renamed into place (unless another build
        staged the same file meanwhile: the records are the same, the first stays)."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = {key: self.root / f".tmp-{key}-{uuid.uuid4().hex}" for key in keys}
        try:
            for folder in temporary.values():
                folder.mkdir()
            yield temporary
            for key, folder in temporary.items():
                try:
                    os.rename(folder, self.folder(key))
                except OSError:
                    if not self.is_staged(key):
                        raise
        finally:
            for folder in temporary.values():
                shutil.rmtree(folder, ignore_errors=True)

    def touch(self, keys: list[str]) -> None:
        now = time.time()
        for key in keys:
            os.utime(self.folder(key), (now, now))

    def prune(self, retention_seconds: float = STAGING_RETENTION_SECONDS) -> int:
        """Remove folders unused for ``retention_seconds`` (and leftovers of builds that died); how many."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - retention_seconds
        removed = 0
        for folder in self.root.iterdir():
            try:
                stale = folder.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if stale:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed


def _stage_new(entries: list[LandedFile], keys: list[str], index: LandingIndex, settings: IngestionSettings,
               cache: StagingCache, stats: WindowStats, progress: Callable[[str], None]) -> None:
    """Parse the files not staged yet, with helper processes when there is enough work to pay for them."""
    todo = [(entry, key) for entry, key in zip(entries, keys, strict=True) if not cache.is_staged(key)]
    stats.cached_files += len(entries) - len(todo)
    if not todo:
        return
    new_entries = [entry for entry, _ in todo]
    landing = index.local_folder_for(new_entries)
    with cache.filling([key for _, key in todo]) as folders:
        folder_of = {entry.path: folders[key] for entry, key in todo}
        tasks = _tasks(new_entries, landing)
        jobs = ((task, folder_of[task.entry.path] / f"part-{task.start:012d}") for task in tasks)
        stage = partial(stage_task, landing=landing, settings=settings)
        count = _task_count(new_entries, landing)
        workers = min(count, os.cpu_count() or 1)
        if workers > 1 and sum(e.size for e in new_entries) > PARALLEL_BYTES:
            results = _stage_alongside_helpers(jobs, workers - 1, stage)
        else:
            results = [stage(task, folder) for task, folder in jobs]
    position = {entry.path: n for n, entry in enumerate(new_entries)}
    for result in sorted(results, key=lambda r: (position[r.task.entry.path], r.task.start)):  # task order
        stats.documents += result.documents
        for kind, staged in result.staged.items():
            stats.staged[kind] = stats.staged.get(kind, 0) + staged
        if result.task.start == 0:
            stats.files.append(result.task.entry.path)
            progress(f"parsed {result.task.entry.path} ({result.task.entry.size / 1e6:.1f} MB)")


def _quarantine_by_hour(staged: StagedFolders, entries: list[LandedFile], window: Window,
                        con: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    """Each file's quarantined lines go to its quarantine hour: those of the files whose hour is built."""
    hour_of_file = {entry.path: entry.quarantine_hour for entry in entries
                    if window.contains(entry.quarantine_hour * HOUR_NS)}
    paths = staged.files("quarantine", [entry.path for entry in entries if entry.path in hour_of_file])
    if not paths:
        return {}
    table = con.sql("SELECT * FROM read_parquet($paths) ORDER BY source_file, source_line",
                    params={"paths": paths}).to_arrow_table().cast(TRACE_QUARANTINE)
    by_hour: dict[int, list[int]] = {}
    for i, source_file in enumerate(table.column("source_file").to_pylist()):
        by_hour.setdefault(hour_of_file[source_file], []).append(i)
    return {hour: table.take(rows) for hour, rows in by_hour.items()}


def _feedback_by_hour(staged: StagedFolders, window: Window, con: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    """Explicit feedback events per hour of the window, each feedback id kept once (the first by file and line)."""
    paths = staged.files("feedback")
    if not paths:
        return {}
    table = con.sql(f"""
        SELECT make_timestamp(time_ns // 1000) AS observed_time, * EXCLUDE (time_ns), time_ns // {HOUR_NS} AS hour
        FROM read_parquet($paths)
        WHERE time_ns >= $start AND time_ns < $end
        QUALIFY row_number() OVER (PARTITION BY feedback_id ORDER BY source_file, source_line) = 1
        ORDER BY observed_time, feedback_id""",
                    params={"paths": paths, "start": window.start_ns, "end": window.end_ns}
                    ).to_arrow_table()
    return _split_by_hour(table, FEEDBACK_EVENTS)


def _tools_by_hour(staged: StagedFolders, window: Window, con: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    """Tool executions per hour of the window; a span id sent more than once keeps the version that ends last."""
    paths = staged.files("tool")
    if not paths:
        return {}
    table = con.sql(f"""
        SELECT span_id, trace_id, parent_span_id, make_timestamp(start_ns // 1000) AS start_time,
               make_timestamp(greatest(end_ns, start_ns) // 1000) AS end_time,
               CASE WHEN end_ns >= start_ns THEN (end_ns - start_ns) / 1e6 END AS duration_ms,
               * EXCLUDE (span_id, trace_id, parent_span_id, start_ns, end_ns, source_line),
               start_ns // {HOUR_NS} AS hour
        FROM read_parquet($paths)
        WHERE start_ns >= $start AND start_ns < $end
        QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY end_ns DESC, source_file, source_line) = 1
        ORDER BY start_time, span_id""",
                    params={"paths": paths, "start": window.start_ns, "end": window.end_ns}).to_arrow_table()
    return _split_by_hour(table, TOOL_SPANS)


def _split_by_hour(table: pa.Table, schema: pa.Schema) -> dict[int, pa.Table]:
    """A query's rows (with an ``hour`` column) as one table of ``schema`` per hour."""
    hours = table.column("hour").to_numpy()
    rows = table.drop_columns(["hour"]).select(schema.names).cast(schema)
    return {int(hour): rows.filter(pa.array(hours == hour)) for hour in sorted(set(hours.tolist()))}


def arrival_lag(new_rows: pa.Table) -> dict[str, float]:
    """Seconds from a call's end to its row: for the newest and the oldest call among ``new_rows`` (what the
    UI plots as ingestion lag), and from its landing file's arrival to its row (the pipeline's own share)."""
    if new_rows.num_rows == 0:
        return {}
    ingested = pc.max(new_rows.column("ingested_at")).as_py()

    def seconds(before: object) -> float:
        return round((ingested - before).total_seconds(), 3)

    return {"lag_newest_row_seconds": seconds(pc.max(new_rows.column("end_time")).as_py()),
            "lag_oldest_row_seconds": seconds(pc.min(new_rows.column("end_time")).as_py()),
            "lag_from_landing_seconds": seconds(pc.min(new_rows.column("landed_at")).as_py())}


def row_hashes(con: duckdb.DuckDBPyConnection, content: pa.Table) -> pa.Array:
    """One 64-bit hash per row over every content column (equal content, equal hash). On a cursor of its
    own: the assembly may be querying ``con`` for the next hour in another thread."""
    columns = ", ".join(f'"{name}"' for name in TRACE_CONTENT.names)
    with con.cursor() as cursor:
        cursor.register("_hashed", content.append_column("_row", pa.array(range(content.num_rows), pa.int64())))
        hashed = cursor.sql(f"SELECT hash({columns}) AS h FROM _hashed ORDER BY _row").to_arrow_table()
    return hashed.column("h").combine_chunks().cast(pa.uint64())


def stamp_arrivals(con: duckdb.DuckDBPyConnection, content: pa.Table, previous: pa.Table | None,
                   landed_ns: dict[str, int], now_us: int) -> pa.Table:
    """``content`` as ``traces`` rows: a row whose content the previous version of its hour held already keeps
    that version's stamps; a new or changed row landed when its file was written and is ingested ``now_us``."""
    hashes = row_hashes(con, content)
    known: dict[tuple[str, int], tuple[int, int]] = {}
    if previous is not None and previous.num_rows and "row_hash" in previous.column_names:
        old = previous.select(["span_id", "row_hash", "landed_at", "ingested_at"]).cast(
            pa.schema([("span_id", pa.string()), ("row_hash", pa.uint64()), ("landed_at", pa.int64()),
                       ("ingested_at", pa.int64())]))
        known = {(span_id, row_hash): (landed, ingested) for span_id, row_hash, landed, ingested in zip(
            *(old.column(name).to_pylist() for name in old.column_names), strict=True)}
    landed, ingested = [], []
    for span_id, row_hash, source in zip(content.column("span_id").to_pylist(), hashes.to_pylist(),
                                         content.column("source_file").to_pylist(), strict=True):
        stamps = known.get((span_id, row_hash))
        landed.append(stamps[0] if stamps else landed_ns.get(source, now_us * 1000) // 1000)
        ingested.append(stamps[1] if stamps else now_us)
    timestamp = TRACES.field("ingested_at").type
    return (content.append_column("row_hash", hashes)
            .append_column("landed_at", pa.array(landed, pa.int64()).cast(timestamp))
            .append_column("ingested_at", pa.array(ingested, pa.int64()).cast(timestamp)))


@contextmanager
def _cache_or_temporary(cache: Path | None) -> Iterator[StagingCache]:
    if cache is not None:
        yield StagingCache(cache)
        return
    with tempfile.TemporaryDirectory(prefix="eval-pipelines-staging-") as folder:
        yield StagingCache(Path(folder))


def build_hours(index: LandingIndex, first_hour: int, last_hour: int, settings: IngestionSettings,
                prices: PriceTable, con: duckdb.DuckDBPyConnection, cache: Path | None = None,
                progress: Callable[[str], None] = lambda _: None, stats: WindowStats | None = None,
                previous: Callable[[int], pa.Table | None] = lambda _: None,
                now_us: int | None = None) -> Iterator[HourBuild]:
    """Every hour in ``[first_hour, last_hour]``, in order, including hours that come out empty. Files are
    staged into ``cache`` (a temporary folder when ``None``) unless already there; ``previous(hour)`` is the
    hour's stored version, whose unchanged rows keep their arrival stamps."""
    stats = stats if stats is not None else WindowStats()
    now_us = now_us if now_us is not None else time.time_ns() // 1000
    window = window_of_hours(first_hour, last_hour)
    entries = index.entries_for(window)
    keys = [staging_key(entry, settings) for entry in entries]
    with _cache_or_temporary(cache) as staging:
        _stage_new(entries, keys, index, settings, staging, stats, progress)
        staging.touch(keys)
        staged = StagedFolders({entry.path: staging.folder(key) for entry, key in zip(entries, keys, strict=True)})
        quarantine = _quarantine_by_hour(staged, entries, window, con)
        for hour, conflicts in span_id_conflicts(con, staged, first_hour, last_hour).items():
            quarantine[hour] = pa.concat_tables([quarantine.get(hour, TRACE_QUARANTINE.empty_table()), conflicts])
        feedback = _feedback_by_hour(staged, window, con)
        tools = _tools_by_hour(staged, window, con)
        built = assemble_traces(con, staged, first_hour, last_hour, settings, prices)
        next_built = next(built, None)
        landed_ns = {entry.path: entry.mtime_ns for entry in entries}
        for hour in range(first_hour, last_hour + 1):
            traces = TRACES.empty_table()
            if next_built is not None and next_built[0] == hour:
                traces = stamp_arrivals(con, next_built[1], previous(hour), landed_ns, now_us)
                next_built = next(built, None)
            yield HourBuild(hour=hour, traces=traces,
                            quarantine=quarantine.get(hour, TRACE_QUARANTINE.empty_table()),
                            feedback=feedback.get(hour, FEEDBACK_EVENTS.empty_table()),
                            tools=tools.get(hour, TOOL_SPANS.empty_table()), built_at_us=now_us)
        staging.prune()
