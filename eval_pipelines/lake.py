"""The Parquet lake: one folder per table, one file per partition, replaced atomically.

``<lake>/<table>/<key>=<partition>/data.parquet``. The lake's root is a local folder (by default
``<home>/warehouse``) or any fsspec URL, such as ``s3://bucket/lake``. Readers see the old partition or
the new one, never half of one, and processes writing different partitions never touch the same file:

- on a local or shared file system a partition is written to a temporary name in its folder and
  renamed into place;
- on an object store, where there is no atomic rename, a partition is one object written with one
  upload (S3 makes a whole object visible when its upload completes) and read with one GET.

DuckDB reads the lake with ``read_parquet('<lake>/<table>/**/*.parquet', hive_partitioning = true)``;
:meth:`Lake.attach` hands an object store's file system to a DuckDB connection, so no DuckDB extension
is downloaded. A catalog file holds one view per table for people who open the lake in the DuckDB CLI.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from eval_pipelines.schemas import TABLES, LakeTable, schema_differences

PARTITION_FILE = "data.parquet"
STATE_FOLDER = "_state"
STALE_TEMPORARY_SECONDS = 3600
# Per protocol. The lake's own file system never caches listings, because other processes add partitions
# (its reads are whole GETs already, and a row count reads only the footer).
LAKE_OPTIONS = {"s3": {"use_listings_cache": False}}
# A DuckDB connection's file system caches listings while the connection lives, and fetches each file it
# opens whole, in one GET, so a partition replaced during a query cannot mix two versions.
QUERY_OPTIONS = {"s3": {"default_cache_type": "all"}}


@dataclass(frozen=True)
class PartitionWrite:
    path: str
    rows: int
    previous_rows: int | None


def sql_string(value: str) -> str:
    """A SQL string literal (DuckDB table functions take no parameters for file globs in views)."""
    return "'" + value.replace("'", "''") + "'"


def lake_filesystem(url: str, options: dict[str, dict], **extra: object) -> tuple[fsspec.AbstractFileSystem, str]:
    """The file system behind a lake URL or folder, with ``options`` for its protocol, and the root path on it."""
    return fsspec.core.url_to_fs(url, **options.get(fsspec.utils.get_protocol(url), {}), **extra)


class Lake:
    def __init__(self, root: str | Path, catalog: Path | None = None, tables: Mapping[str, LakeTable] = TABLES) -> None:
        self.location = str(root)
        self.fs, self.root = lake_filesystem(self.location, LAKE_OPTIONS)
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.catalog = catalog
        self.registry = tables

    def url(self, path: str) -> str:
        """How DuckDB and people name a path of the lake."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    def attach(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        """Let the connection read the lake: an object store's file system is registered with it.

        That file system is the connection's own and caches listings while the connection lives (seconds):
        DuckDB asks for a file's size and date several times per query, and each would be a round trip."""
        if not self.is_local:
            con.register_filesystem(lake_filesystem(self.location, QUERY_OPTIONS, skip_instance_cache=True)[0])
        return con

    def partition_path(self, table: str, key_name: str, key: str) -> str:
        return f"{self.root}/{table}/{key_name}={key}/{PARTITION_FILE}"

    def read_partition(self, table: str, key_name: str, key: str) -> pa.Table | None:
        return self.read_partitions(table, key_name, [key])

    def read_partitions(self, table: str, key_name: str, keys: list[str],
                        columns: list[str] | None = None) -> pa.Table | None:
        """The named partitions that exist, concatenated (``None`` when none does)."""
        parts = []
        for key in self._candidates(table, key_name, keys):
            try:
                with self._whole_file(self.partition_path(table, key_name, key)) as source:
                    parts.append(pq.read_table(source, columns=columns))
            except FileNotFoundError:
                continue
        return (parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")) if parts else None

    def read_columns(self, table: str, key_name: str, keys: list[str], columns: list[str]) -> pa.Table:
        """:meth:`read_partitions`, with no rows (in the registry's types) when none of the partitions exists."""
        found = self.read_partitions(table, key_name, keys, columns)
        return found if found is not None else self.registry[table].schema.empty_table().select(columns)

    def _candidates(self, table: str, key_name: str, keys: list[str]) -> list[str]:
        """The keys worth a read. An object store answers each missing key with a round trip, so for several
        keys one listing says which exist (a week of history is 168 keys, most of them absent)."""
        if self.is_local or len(keys) < 2:
            return keys
        present = set(self.partition_keys(table, key_name))
        return [key for key in keys if key in present]

    def _whole_file(self, path: str) -> pa.NativeFile:
        """One version of a partition: one open file handle locally (a path would be opened again per
        read, and could meet a newer version), one GET from an object store."""
        if self.is_local:
            return pa.OSFile(path)
        return pa.BufferReader(self.fs.cat_file(path))

    def partition_rows(self, table: str, key_name: str, key: str) -> int | None:
        try:
            with self.fs.open(self.partition_path(table, key_name, key), "rb") as stream:
                return pq.ParquetFile(stream).metadata.num_rows
        except FileNotFoundError:
            return None

    def write_partition(self, table: str, key_name: str, key: str, data: pa.Table) -> PartitionWrite:
        """Replace one partition atomically; the previous version stays readable until the new one is whole. A table,
        partitioning or columns other than the registry's (``TABLES``) is refused before anything is written."""
        self._check_write(table, key_name, data.schema)
        target = self.partition_path(table, key_name, key)
        previous_rows = self.partition_rows(table, key_name, key)
        if self.is_local:
            self._write_and_rename(target, data)
        else:
            self._upload_whole(target, data)
        if self.catalog is not None:
            self.ensure_catalog_view(table)
        return PartitionWrite(self.url(target), data.num_rows, previous_rows)

    def _check_write(self, table: str, key_name: str, schema: pa.Schema) -> None:
        registered = self.registry.get(table)
        if registered is None:
            raise ValueError(f"{table} is not a table of the lake (schemas.TABLES)")
        if key_name != registered.partitioned_by:
            raise ValueError(f"{table} is partitioned by {registered.partitioned_by}, not {key_name}")
        if problems := schema_differences(schema, registered.schema):
            raise ValueError(f"{table}: the rows do not have its columns: {'; '.join(problems)}")

    def _write_and_rename(self, target: str, data: pa.Table) -> None:
        folder = Path(target).parent
        folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries(folder)
        temporary = folder / f".{PARTITION_FILE}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(data, temporary, compression="zstd")
            with open(temporary, "rb") as stream:
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def _upload_whole(self, target: str, data: pa.Table) -> None:
        # Serialised first: a stream closed by an error half way would publish the half it had written.
        buffer = pa.BufferOutputStream()
        pq.write_table(data, buffer, compression="zstd")
        self.fs.pipe_file(target, buffer.getvalue().to_pybytes())

    @staticmethod
    def _remove_stale_temporaries(folder: Path) -> None:
        cutoff = time.time() - STALE_TEMPORARY_SECONDS
        for leftover in folder.glob(f".{PARTITION_FILE}.*.tmp"):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)

    def _state_path(self, name: str) -> str:
        return f"{self.root}/{STATE_FOLDER}/{name}.json"

    def read_state(self, name: str) -> dict | None:
        """A small JSON document kept beside the tables (what a stage must remember between runs)."""
        try:
            raw = self.fs.cat_file(self._state_path(name))
        except FileNotFoundError:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:  # created by create_state a moment ago, still being written
            return {}

    def write_state(self, name: str, data: dict) -> None:
        """Replace a state document whole (a temporary name and a rename, or one upload)."""
        target = self._state_path(name)
        payload = json.dumps(data, default=str).encode()
        if not self.is_local:
            self.fs.pipe_file(target, payload)
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(f"{target}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_bytes(payload)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def create_state(self, name: str, data: dict) -> bool:
        """Write a state document only if none exists yet; whether this call wrote it. Exclusive on a file
        system; on an object store the callers are serialised (the alerting pool), so check-then-write holds."""
        target = self._state_path(name)
        payload = json.dumps(data, default=str).encode()
        if not self.is_local:
            if self.fs.exists(target):
                return False
            self.fs.pipe_file(target, payload)
            return True
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "xb") as stream:
                stream.write(payload)
                stream.flush()
                os.fsync(stream.fileno())
        except FileExistsError:
            return False
        return True

    def glob(self, table: str) -> str:
        return self.url(f"{self.root}/{table}/**/*.parquet")

    def scan(self, table: str) -> str:
        """SQL for the whole table, to use in FROM clauses (on a connection :meth:`attach` has seen)."""
        return f"read_parquet({sql_string(self.glob(table))}, hive_partitioning = true, union_by_name = true)"

    def _files(self, table: str) -> list[str]:
        # One recursive listing: a glob per partition folder would be one round trip per partition on S3.
        files = self.fs.find(f"{self.root}/{table}")
        return [path for path in files if path.endswith(f"/{PARTITION_FILE}") and "=" in path.rsplit("/", 2)[1]]

    def partition_keys(self, table: str, key_name: str) -> list[str]:
        """The keys of the table's partitions that hold a file, sorted."""
        prefix = f"{key_name}="
        folders = (path.rsplit("/", 2)[1] for path in self._files(table))
        return sorted(folder[len(prefix):] for folder in folders if folder.startswith(prefix))

    def scan_existing(self, table: str) -> str | None:
        """Like :meth:`scan`, or ``None`` while the table has no file yet (DuckDB fails on an empty glob)."""
        return self.scan(table) if self._files(table) else None

    def tables(self) -> list[str]:
        if not self.fs.isdir(self.root):
            return []
        names = (path.rsplit("/", 1)[-1] for path in self.fs.ls(self.root, detail=False))
        return sorted(name for name in names if not name.startswith(".") and self._files(name))

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
            with self.attach(con):
                for table in names:
                    con.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM {self.scan(table)}')
        markers = self.catalog.parent / ".catalog"
        markers.mkdir(exist_ok=True)
        for table in names:
            (markers / table).touch()
        return True
