"""Staging: records stream into Parquet files on disk, so memory stays flat however big the input.

Each kind of record gets one file per staging folder, except ``llm`` rows: they are written to one
file per hour and flush (``llm-<hour>-<n>.parquet``), so that building an hour of ``traces`` reads
that hour's wide rows only."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.schemas import STAGED_SCHEMAS

BATCH_ROWS = 5_000
# Staging lives for one run and is read once, whole: cheap compression beats small files, and neither
# statistics (for skipping row groups) nor dictionary pages (for repeated reads) would pay for themselves.
WRITE_OPTIONS = {"compression": "lz4", "write_statistics": False, "use_dictionary": False}
HOURLY_KIND = "llm"


def _columns(rows: list[dict[str, Any]], names: list[str]) -> list[Sequence[Any]]:
    """Rows to columns; a record without some key gives None there."""
    try:  # every key present (the usual case): one C call per row instead of one per value
        return list(zip(*map(itemgetter(*names), rows), strict=True)) if rows else [[] for _ in names]
    except KeyError:
        return [[row.get(name) for row in rows] for name in names]


class StagingWriter:
    """A :class:`~eval_pipelines.parsing.records.RecordSink` writing Parquet files per record kind."""

    def __init__(self, folder: Path, batch_rows: int = BATCH_ROWS) -> None:
        self.folder = folder
        self.batch_rows = batch_rows
        self.counts = dict.fromkeys(STAGED_SCHEMAS, 0)
        self._buffers: dict[str, list[dict[str, Any]]] = {kind: [] for kind in STAGED_SCHEMAS}
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._hourly_files_written = 0
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, kind: str, record: dict[str, Any]) -> None:
        buffer = self._buffers[kind]
        buffer.append(record)
        self.counts[kind] += 1
        if len(buffer) >= self.batch_rows:
            self._flush(kind)

    def path(self, kind: str) -> Path:
        return self.folder / f"{kind}.parquet"

    @staticmethod
    def _table(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
        schema = STAGED_SCHEMAS[kind]
        columns = _columns(rows, schema.names)
        return pa.Table.from_arrays([pa.array(column, type=field.type) for column, field in zip(columns, schema,
                                                                                              strict=True)],
                                    schema=schema)

    def _flush(self, kind: str) -> None:
        rows = self._buffers[kind]
        if kind == HOURLY_KIND:
            self._flush_by_hour(rows)
        else:
            writer = self._writers.get(kind)
            if writer is None:
                writer = self._writers[kind] = pq.ParquetWriter(self.path(kind), STAGED_SCHEMAS[kind],
                                                                **WRITE_OPTIONS)
            writer.write_table(self._table(kind, rows))
        rows.clear()

    def _flush_by_hour(self, rows: list[dict[str, Any]]) -> None:
        by_hour: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_hour.setdefault(row["start_ns"] // HOUR_NS, []).append(row)
        for hour, hour_rows in by_hour.items():
            self._hourly_files_written += 1
            path = self.folder / f"{HOURLY_KIND}-{hour}-{self._hourly_files_written}.parquet"
            pq.write_table(self._table(HOURLY_KIND, hour_rows), path, **WRITE_OPTIONS)

    def close(self) -> None:
        for kind in STAGED_SCHEMAS:
            if kind == HOURLY_KIND:
                self._flush(kind)
                continue
            if self._buffers[kind] or kind not in self._writers:
                self._flush(kind)  # also writes an empty file for a kind with no records
            self._writers[kind].close()
        self._writers.clear()

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
