"""Build ``traces`` and ``trace_quarantine`` rows for a time window from the landing files."""

from __future__ import annotations

import gc
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa

from eval_pipelines.landing import LandedFile, LandingIndex
from eval_pipelines.parsing.assemble import assemble_traces
from eval_pipelines.parsing.files import iter_documents, iter_range, splittable
from eval_pipelines.parsing.records import HOUR_NS, Extractor, Window
from eval_pipelines.parsing.staging import StagingWriter
from eval_pipelines.schemas import FEEDBACK_EVENTS, TRACE_QUARANTINE, TRACES
from eval_pipelines.settings import IngestionSettings, PriceTable

CHUNK_BYTES = 32 * 1024 * 1024
PARALLEL_BYTES = 64 * 1024 * 1024


@dataclass
class HourBuild:
    hour: int
    traces: pa.Table
    quarantine: pa.Table
    feedback: pa.Table


@dataclass
class WindowStats:
    files: list[str] = field(default_factory=list)
    documents: int = 0
    staged: dict[str, int] = field(default_factory=dict)

    @property
    def spans_staged(self) -> int:
        return self.staged.get("llm", 0) + self.staged.get("tree", 0)


def window_of_hours(first_hour: int, last_hour: int) -> Window:
    return Window(first_hour * HOUR_NS, (last_hour + 1) * HOUR_NS)


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


def stage_task(task: StagingTask, folder: Path, landing: Path, window: Window,
               settings: IngestionSettings) -> StagedTask:
    """Parse one task into its own staging folder."""
    path = landing / task.entry.path
    documents = (iter_documents(path, limit=task.entry.size) if task.end is None
                 else iter_range(path, task.start, task.end, task.lines_before))
    extractor = Extractor(settings, task.entry.path, window,
                          with_quarantine=window.contains(task.entry.quarantine_hour * HOUR_NS))
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


def _stage(entries: list[LandedFile], landing: Path, window: Window, settings: IngestionSettings,
           staging: Path, stats: WindowStats, progress: Callable[[str], None]) -> None:
    """Parse every task, with helper processes when there is enough work to pay for them."""
    count = _task_count(entries, landing)
    if not count:
        StagingWriter(staging / "part-empty").close()  # empty tables, so the assembly reads no special case
    jobs = zip(_tasks(entries, landing), [staging / f"part-{n:05d}" for n in range(count)], strict=True)
    stage = partial(stage_task, landing=landing, window=window, settings=settings)
    workers = min(count, os.cpu_count() or 1)
    if workers > 1 and sum(e.size for e in entries) > PARALLEL_BYTES:
        results = _stage_alongside_helpers(jobs, workers - 1, stage)
    else:
        results = [stage(task, folder) for task, folder in jobs]
    position = {entry.path: n for n, entry in enumerate(entries)}
    for result in sorted(results, key=lambda r: (position[r.task.entry.path], r.task.start)):  # task order
        stats.documents += result.documents
        for kind, staged in result.staged.items():
            stats.staged[kind] = stats.staged.get(kind, 0) + staged
        if result.task.start == 0:
            stats.files.append(result.task.entry.path)
            progress(f"parsed {result.task.entry.path} ({result.task.entry.size / 1e6:.1f} MB)")


def _quarantine_by_hour(staging: Path, entries: list[LandedFile],
                        con: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    table = con.sql("SELECT * FROM read_parquet($path) ORDER BY source_file, source_line",
                    params={"path": str(staging / "*" / "quarantine.parquet")}).to_arrow_table().cast(TRACE_QUARANTINE)
    hour_of_file = {entry.path: entry.quarantine_hour for entry in entries}
    files = table.column("source_file").to_pylist()
    by_hour: dict[int, list[int]] = {}
    for i, source_file in enumerate(files):
        by_hour.setdefault(hour_of_file[source_file], []).append(i)
    return {hour: table.take(rows) for hour, rows in by_hour.items()}


def _feedback_by_hour(staging: Path, con: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    """Explicit feedback events per hour, each feedback id kept once (the first by file and line)."""
    table = con.sql(f"""
        SELECT make_timestamp(time_ns // 1000) AS observed_time, * EXCLUDE (time_ns), time_ns // {HOUR_NS} AS hour
        FROM read_parquet($path)
        QUALIFY row_number() OVER (PARTITION BY feedback_id ORDER BY source_file, source_line) = 1
        ORDER BY observed_time, feedback_id""", params={"path": str(staging / "*" / "feedback.parquet")}
                    ).to_arrow_table()
    hours = table.column("hour").to_numpy()
    rows = table.drop_columns(["hour"]).cast(FEEDBACK_EVENTS)
    return {int(hour): rows.filter(pa.array(hours == hour)) for hour in sorted(set(hours.tolist()))}


def build_hours(index: LandingIndex, first_hour: int, last_hour: int, settings: IngestionSettings,
                prices: PriceTable, con: duckdb.DuckDBPyConnection,
                progress: Callable[[str], None] = lambda _: None,
                stats: WindowStats | None = None) -> Iterator[HourBuild]:
    """Every hour in ``[first_hour, last_hour]``, in order, including hours that come out empty."""
    stats = stats if stats is not None else WindowStats()
    window = window_of_hours(first_hour, last_hour)
    entries = index.entries_for(window)
    with tempfile.TemporaryDirectory(prefix="eval-pipelines-staging-") as folder:
        staging = Path(folder)
        _stage(entries, index.landing, window, settings, staging, stats, progress)
        quarantine = _quarantine_by_hour(staging, entries, con)
        feedback = _feedback_by_hour(staging, con)
        built = assemble_traces(con, staging, settings, prices)
        next_built = next(built, None)
        for hour in range(first_hour, last_hour + 1):
            traces = TRACES.empty_table()
            if next_built is not None and next_built[0] == hour:
                traces = next_built[1]
                next_built = next(built, None)
            yield HourBuild(hour=hour, traces=traces,
                            quarantine=quarantine.get(hour, TRACE_QUARANTINE.empty_table()),
                            feedback=feedback.get(hour, FEEDBACK_EVENTS.empty_table()))
