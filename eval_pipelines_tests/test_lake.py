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


def table(n: int, tag: str) -> pa.Table:
    return pa.table({"i": list(range(n)), "tag": [tag] * n})


def test_partition_is_replaced_and_readable_with_hive_partitioning(home):
    lake = Lake(home.warehouse, home.catalog)
    first = lake.write_partition("things", "hour", "2026-11-21-14:00", table(3, "old"))
    second = lake.write_partition("things", "hour", "2026-11-21-14:00", table(2, "new"))
    lake.write_partition("things", "hour", "2026-11-21-15:00", table(1, "other"))
    assert (first.previous_rows, second.previous_rows, second.rows) == (None, 3, 2)
    rows = duckdb.sql(f"SELECT hour, tag, count(*) FROM {lake.scan('things')} GROUP BY ALL ORDER BY 1").fetchall()
    assert rows == [("2026-11-21-14:00", "new", 2), ("2026-11-21-15:00", "other", 1)]
    assert not list(home.warehouse.rglob("*.tmp"))


def test_catalog_has_a_view_per_table(home):
    lake = Lake(home.warehouse, home.catalog)
    lake.write_partition("things", "hour", "2026-11-21-14:00", table(3, "a"))
    with duckdb.connect(str(home.catalog), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM things").fetchall() == [(3,)]


def test_a_failed_write_leaves_the_old_partition(home, monkeypatch):
    lake = Lake(home.warehouse)
    lake.write_partition("things", "hour", "h", table(3, "old"))

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", explode)
    with pytest.raises(OSError):
        lake.write_partition("things", "hour", "h", table(5, "new"))
    assert lake.read_partition("things", "hour", "h").column("tag").to_pylist() == ["old"] * 3
    assert not list(home.warehouse.rglob("*.tmp"))


def _write_many(warehouse, key, rounds):
    lake = Lake(warehouse)
    for round_number in range(rounds):
        lake.write_partition("things", "hour", key, table(2000 + round_number, key))


def test_two_processes_writing_different_partitions_never_interfere(home):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_many, args=(home.warehouse, key, 25)) for key in ("a", "b")]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers):
        for key in ("a", "b"):
            data = Lake(home.warehouse).read_partition("things", "hour", key)
            if data is not None:
                assert set(data.column("tag").to_pylist()) == {key} and data.num_rows >= 2000
                reads += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    lake = Lake(home.warehouse)
    assert lake.partition_rows("things", "hour", "a") == 2024 == lake.partition_rows("things", "hour", "b")
    assert reads > 0


def _write_forever(warehouse, key):
    lake = Lake(warehouse)
    for round_number in itertools.count():
        lake.write_partition("things", "hour", key, table(400_000 + round_number, f"round-{round_number}"))


def test_a_process_killed_mid_write_leaves_a_whole_partition(home):
    lake = Lake(home.warehouse)
    lake.write_partition("things", "hour", "h", table(3, "old"))
    writer = multiprocessing.get_context("spawn").Process(target=_write_forever, args=(home.warehouse, "h"))
    writer.start()
    folder = lake.partition_path("things", "hour", "h").parent
    deadline = time.monotonic() + 60
    while not list(folder.glob("*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert list(folder.glob("*.tmp")), "the writer never got to write"
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    assert writer.exitcode == -signal.SIGKILL
    survivor = lake.read_partition("things", "hour", "h")
    tags = set(survivor.column("tag").to_pylist())
    assert len(tags) == 1 and (tags == {"old"} or survivor.num_rows == 400_000 + int(tags.pop().split("-")[1]))
    assert duckdb.sql(f"SELECT count(*) FROM {lake.scan('things')}").fetchall() == [(survivor.num_rows,)]
    lake.write_partition("things", "hour", "h", table(5, "after"))
    assert lake.read_partition("things", "hour", "h").column("tag").to_pylist() == ["after"] * 5
