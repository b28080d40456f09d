"""The Parquet lake: one folder per table, one file per partition, replaced atomically.

``warehouse/<table>/<key>=<partition>/data.parquet`` is written to a temporary name in the same
folder and renamed into place, so readers see the old partition or the new one, never half of one,
and processes writing different partitions never touch the same file. DuckDB reads the lake with
``read_parquet('<home>/warehouse/<table>/**/*.parquet', hive_partitioning = true)``; a catalog file
holds one view per table for people who open the lake in the DuckDB CLI.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

PARTITION_FILE = "data.parquet"
STALE_TEMPORARY_SECONDS = 3600


@dataclass(frozen=True)
class PartitionWrite:
    path: Path
    rows: int
    previous_rows: int | None


def sql_string(value: str) -> str:
    """A SQL string literal (DuckDB table functions take no parameters for file globs in views)."""
    return "'" + value.replace("'", "''") + "'"


class Lake:
    def __init__(self, warehouse: Path, catalog: Path | None = None) -> None:
        self.warehouse = warehouse
        self.catalog = catalog

    def partition_path(self, table: str, key_name: str, key: str) -> Path:
        return self.warehouse / table / f"{key_name}={key}" / PARTITION_FILE

    def read_partition(self, table: str, key_name: str, key: str) -> pa.Table | None:
        return self.read_partitions(table, key_name, [key])

    def read_partitions(self, table: str, key_name: str, keys: list[str],
                        columns: list[str] | None = None) -> pa.Table | None:
        """The named partitions that exist, concatenated (``None`` when none does)."""
        parts = []
        for key in keys:
            # One open file handle: a path would be opened again per read, and could meet a newer version.
            try:
                with open(self.partition_path(table, key_name, key), "rb") as stream:
                    parts.append(pq.read_table(stream, columns=columns))
            except FileNotFoundError:
                continue
        return (parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")) if parts else None

    def partition_rows(self, table: str, key_name: str, key: str) -> int | None:
        try:
            with open(self.partition_path(table, key_name, key), "rb") as stream:
                return pq.ParquetFile(stream).metadata.num_rows
        except FileNotFoundError:
            return None

    def write_partition(self, table: str, key_name: str, key: str, data: pa.Table) -> PartitionWrite:
        """Replace one partition atomically; the previous version stays readable until the rename."""
        target = self.partition_path(table, key_name, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        previous_rows = self.partition_rows(table, key_name, key)
        self._remove_stale_temporaries(target.parent)
        temporary = target.parent / f".{PARTITION_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(data, temporary, compression="zstd")
            with open(temporary, "rb") as stream:
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        if self.catalog is not None:
            self.ensure_catalog_view(table)
        return PartitionWrite(target, data.num_rows, previous_rows)

    @staticmethod
    def _remove_stale_temporaries(folder: Path) -> None:
        cutoff = time.time() - STALE_TEMPORARY_SECONDS
        for leftover in folder.glob(f".{PARTITION_FILE}.*.tmp"):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)

    def glob(self, table: str) -> str:
        return str(self.warehouse / table / "**" / "*.parquet")

    def scan(self, table: str) -> str:
        """SQL for the whole table, to use in FROM clauses."""
        return f"read_parquet({sql_string(self.glob(table))}, hive_partitioning = true, union_by_name = true)"

    def partition_keys(self, table: str, key_name: str) -> list[str]:
        """The keys of the table's partitions that hold a file, sorted."""
        folder = self.warehouse / table
        prefix = f"{key_name}="
        return sorted(p.name[len(prefix):] for p in folder.glob(f"{prefix}*") if (p / PARTITION_FILE).exists()) \
            if folder.is_dir() else []

    def scan_existing(self, table: str) -> str | None:
        """Like :meth:`scan`, or ``None`` while the table has no file yet (DuckDB fails on an empty glob)."""
        folder = self.warehouse / table
        return self.scan(table) if folder.is_dir() and any(folder.rglob("*.parquet")) else None

    def tables(self) -> list[str]:
        if not self.warehouse.exists():
            return []
        return sorted(p.name for p in self.warehouse.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and any(p.rglob("*.parquet")))

    @contextmanager
    def _catalog_lock(self) -> Iterator[None]:
        assert self.catalog is not None
        self.catalog.parent.mkdir(parents=True, exist_ok=True)
        with open(self.catalog.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure_catalog_view(self, table: str) -> bool:
        """Create the table's view in the catalog once; False if the catalog is held open elsewhere."""
        assert self.catalog is not None
        marker = self.catalog.parent / ".catalog" / table
        if marker.exists():
            return True
        return self.refresh_catalog([table])

    def refresh_catalog(self, tables: list[str] | None = None) -> bool:
        assert self.catalog is not None
        names = tables if tables is not None else self.tables()
        with self._catalog_lock():
            try:
                con = duckdb.connect(str(self.catalog))
            except duckdb.IOException:
                return False
            with con:
                for table in names:
                    con.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM {self.scan(table)}')
        markers = self.catalog.parent / ".catalog"
        markers.mkdir(exist_ok=True)
        for table in names:
            (markers / table).touch()
        return True
