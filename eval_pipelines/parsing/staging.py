"""Staging: records stream into Parquet files on disk, so memory stays flat however big the input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from eval_pipelines.schemas import STAGED_SCHEMAS

BATCH_ROWS = 5_000
COMPRESSION = "lz4"  # staging lives for one run: cheap compression beats small files


class StagingWriter:
    """A :class:`~eval_pipelines.parsing.records.RecordSink` writing one Parquet file per record kind."""

    def __init__(self, folder: Path, batch_rows: int = BATCH_ROWS) -> None:
        self.folder = folder
        self.batch_rows = batch_rows
        self.counts = dict.fromkeys(STAGED_SCHEMAS, 0)
        self._buffers: dict[str, list[dict[str, Any]]] = {kind: [] for kind in STAGED_SCHEMAS}
        self._writers: dict[str, pq.ParquetWriter] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, kind: str, record: dict[str, Any]) -> None:
        buffer = self._buffers[kind]
        buffer.append(record)
        self.counts[kind] += 1
        if len(buffer) >= self.batch_rows:
            self._flush(kind)

    def path(self, kind: str) -> Path:
        return self.folder / f"{kind}.parquet"

    def _flush(self, kind: str) -> None:
        schema = STAGED_SCHEMAS[kind]
        rows = self._buffers[kind]
        table = pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in schema.names},
                                     schema=schema)
        writer = self._writers.get(kind)
        if writer is None:
            writer = self._writers[kind] = pq.ParquetWriter(self.path(kind), schema, compression=COMPRESSION)
        writer.write_table(table)
        rows.clear()

    def close(self) -> None:
        for kind in STAGED_SCHEMAS:
            if self._buffers[kind] or kind not in self._writers:
                self._flush(kind)  # also writes an empty file for a kind with no records
            self._writers[kind].close()
        self._writers.clear()

    def __enter__(self) -> StagingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
