"""The lake's promises, on a local folder and on an S3-compatible object store (``lake_url`` runs each twice)."""

import itertools
import multiprocessing
import os
import signal
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eval_pipelines.lake import Lake
from eval_pipelines.schemas import TRACES, LakeTable

THINGS = {"things": LakeTable(pa.schema([("i", pa.int64()), ("tag", pa.string())]), "hour")}


def table(n: int, tag: str) -> pa.Table:
    return pa.table({"i": list(range(n)), "tag": [tag] * n})


def things_lake(url: str, catalog=None) -> Lake:
    """A lake whose one table is ``things``."""
    return Lake(url, catalog, THINGS)


def test_partition_is_replaced_and_readable_with_hive_partitioning(lake_url, home):
    lake = things_lake(lake_url, home.catalog)
    assert (lake.tables(), lake.scan_existing("things")) == ([], None)
    first = lake.write_partition("things", "hour", "2026-11-21-14:00", table(3, "old"))
    second = lake.write_partition("things", "hour", "2026-11-21-14:00", table(2, "new"))
    lake.write_partition("things", "hour", "2026-11-21-15:00", table(1, "other"))
    assert (first.previous_rows, second.previous_rows, second.rows) == (None, 3, 2)
    assert second.path == f"{lake_url}/things/hour=2026-11-21-14:00/data.parquet"
    with lake.attach(duckdb.connect()) as con:
        rows = con.sql(f"SELECT hour, tag, count(*) FROM {lake.scan_existing('things')} GROUP BY ALL ORDER BY 1")
        assert rows.fetchall() == [("2026-11-21-14:00", "new", 2), ("2026-11-21-15:00", "other", 1)]
    assert lake.tables() == ["things"]
    assert lake.partition_keys("things", "hour") == ["2026-11-21-14:00", "2026-11-21-15:00"]
    week = [f"2026-11-{day}-{hour:02d}:00" for day in range(15, 22) for hour in range(24)]
    assert lake.read_partitions("things", "hour", week, ["tag"]).column("tag").to_pylist() == ["new", "new", "other"]
    assert lake.read_columns("things", "hour", week, ["tag"]).column("tag").to_pylist() == ["new", "new", "other"]
    none = lake.read_columns("things", "hour", ["2026-11-22-00:00"], ["tag", "i"])
    assert (none.num_rows, none.schema) == (0, pa.schema([("tag", pa.string()), ("i", pa.int64())]))
    assert sorted(lake.fs.find(lake.root)) == [lake.partition_path("things", "hour", f"2026-11-21-{h}:00")
                                               for h in (14, 15)], "no temporary file is left behind"


def test_catalog_has_a_view_per_table(lake_url, home):
    lake = things_lake(lake_url, home.catalog)
    lake.write_partition("things", "hour", "2026-11-21-14:00", table(3, "a"))
    with lake.attach(duckdb.connect(str(home.catalog), read_only=True)) as con:
        assert con.sql("SELECT count(*) FROM things").fetchall() == [(3,)]


def test_a_failed_write_leaves_the_old_partition(lake_url, monkeypatch):
    lake = things_lake(lake_url)
    lake.write_partition("things", "hour", "h", table(3, "old"))

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", explode)
    with pytest.raises(OSError):
        lake.write_partition("things", "hour", "h", table(5, "new"))
    assert lake.read_partition("things", "hour", "h").column("tag").to_pylist() == ["old"] * 3
    assert lake.fs.find(lake.root) == [lake.partition_path("things", "hour", "h")]


def _write_many(lake_url, key, rounds):
    lake = things_lake(lake_url)
    for round_number in range(rounds):
        lake.write_partition("things", "hour", key, table(2000 + round_number, key))


def test_two_processes_writing_different_partitions_never_interfere(lake_url):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(lake_url, key, 25), daemon=True) for key in ("a", "b")]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers):
        for key in ("a", "b"):
            data = things_lake(lake_url).read_partition("things", "hour", key)
            if data is not None:
                assert set(data.column("tag").to_pylist()) == {key} and data.num_rows >= 2000
                reads += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    lake = things_lake(lake_url)
    assert lake.partition_rows("things", "hour", "a") == 2024 == lake.partition_rows("things", "hour", "b")
    assert reads > 0


def _write_forever(lake_url, key):
    lake = things_lake(lake_url)
    for round_number in itertools.count():
        lake.write_partition("things", "hour", key, table(400_000 + round_number, f"round-{round_number}"))


def _writing(lake: Lake) -> bool:
    """The writer is inside a write: its temporary file exists (local), or its first version is out and the
    next one is being serialised and uploaded, which is nearly all of its loop (object store)."""
    if lake.is_local:
        return bool(lake.fs.glob(f"{lake.root}/things/hour=h/*.tmp"))
    return lake.read_partition("things", "hour", "h").column("tag")[0].as_py() != "old"


def test_a_process_killed_mid_write_leaves_a_whole_partition(lake_url):
    lake = things_lake(lake_url)
    lake.write_partition("things", "hour", "h", table(3, "old"))
    writer = multiprocessing.get_context("spawn").Process(target=_write_forever, args=(lake_url, "h"), daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while not _writing(lake) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert _writing(lake), "the writer never got to write"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
    assert writer.exitcode == -signal.SIGKILL
    survivor = lake.read_partition("things", "hour", "h")
    tags = set(survivor.column("tag").to_pylist())
    assert len(tags) == 1 and (tags == {"old"} or survivor.num_rows == 400_000 + int(tags.pop().split("-")[1]))
    with lake.attach(duckdb.connect()) as con:
        assert con.sql(f"SELECT count(*) FROM {lake.scan('things')}").fetchall() == [(survivor.num_rows,)]
    lake.write_partition("things", "hour", "h", table(5, "after"))
    assert lake.read_partition("things", "hour", "h").column("tag").to_pylist() == ["after"] * 5


def test_a_write_unlike_the_registry_is_refused_and_nothing_is_written(lake_url):
    lake = Lake(lake_url)
    traces = TRACES.empty_table()
    with pytest.raises(ValueError, match="things is not a table of the lake"):
        lake.write_partition("things", "hour", "h", table(1, "a"))
    with pytest.raises(ValueError, match="traces is partitioned by hour, not day"):
        lake.write_partition("traces", "day", "2026-11-21", traces)
    with pytest.raises(ValueError, match="traces: the rows do not have its columns: missing trace_id.*"
                                         "unexpected score.*span_id is int64, not string"):
        lake.write_partition("traces", "hour", "h", pa.table({"span_id": pa.array([], pa.int64()),
                                                              "score": pa.array([], pa.float64())}))
    assert lake.tables() == []
    assert lake.write_partition("traces", "hour", "h", traces).rows == 0
