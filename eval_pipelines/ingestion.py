"""Build ``traces`` and ``trace_quarantine`` rows for a time window from the landing files."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from eval_pipelines.landing import LandedFile, LandingIndex
from eval_pipelines.parsing.assemble import assemble_traces
from eval_pipelines.parsing.files import iter_documents
from eval_pipelines.parsing.records import HOUR_NS, Extractor, Window
from eval_pipelines.parsing.staging import StagingWriter
from eval_pipelines.schemas import TRACE_QUARANTINE, TRACES
from eval_pipelines.settings import IngestionSettings, PriceTable


@dataclass
class HourBuild:
    hour: int
    traces: pa.Table
    quarantine: pa.Table


@dataclass
class WindowStats:
    files: list[str] = field(default_factory=list)
    documents: int = 0
    staged: dict[str, int] = field(default_factory=dict)


def window_of_hours(first_hour: int, last_hour: int) -> Window:
    return Window(first_hour * HOUR_NS, (last_hour + 1) * HOUR_NS)


def _stage(entries: list[LandedFile], landing: Path, window: Window, settings: IngestionSettings,
           staging: Path, stats: WindowStats, progress: Callable[[str], None]) -> None:
    with StagingWriter(staging) as writer:
        for entry in entries:
            with_quarantine = window.contains(entry.quarantine_hour * HOUR_NS)
            extractor = Extractor(settings, entry.path, window, with_quarantine)
            for document in iter_documents(landing / entry.path):
                stats.documents += 1
                extractor.extract(document, writer)
            stats.files.append(entry.path)
            progress(f"parsed {entry.path} ({entry.size / 1e6:.1f} MB)")
        stats.staged = dict(writer.counts)


def _quarantine_by_hour(staging: Path, entries: list[LandedFile],
                        con: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    table = con.sql("SELECT * FROM read_parquet($path) ORDER BY source_file, source_line",
                    params={"path": str(staging / "quarantine.parquet")}).to_arrow_table().cast(TRACE_QUARANTINE)
    hour_of_file = {entry.path: entry.quarantine_hour for entry in entries}
    files = table.column("source_file").to_pylist()
    by_hour: dict[int, list[int]] = {}
    for i, source_file in enumerate(files):
        by_hour.setdefault(hour_of_file[source_file], []).append(i)
    return {hour: table.take(rows) for hour, rows in by_hour.items()}


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
        built = assemble_traces(con, staging, settings, prices)
        next_built = next(built, None)
        for hour in range(first_hour, last_hour + 1):
            traces = TRACES.empty_table()
            if next_built is not None and next_built[0] == hour:
                traces = next_built[1]
                next_built = next(built, None)
            yield HourBuild(hour=hour, traces=traces,
                            quarantine=quarantine.get(hour, TRACE_QUARANTINE.empty_table()))
