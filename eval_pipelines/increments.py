"""Keeping a table derived row by row from ``traces`` up to date without recomputing the whole hour.

Every derived row carries ``input_hash``: the ``row_hash`` of the trace row it was computed from, mixed
with a fingerprint of the settings and code that computed it. When an hour's traces change (new files,
late spans, a rebuild), the rows whose input is unchanged are kept as they are and only the trace rows
that are new or changed are computed, so a live run's work grows with the new data. A trace row that is
gone takes its derived rows with it. The result does not depend on how the hour arrived: the same trace
rows and settings give the same derived rows, in the same order, whether computed at once or in pieces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INPUT_HASH = "input_hash"


def fingerprint(*parts: str) -> int:
    """A 64-bit fingerprint of the settings (and code versions) a derived table is computed with."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "big")


def input_hashes(traces: pa.Table, settings: int) -> pa.Array:
    """Each trace row's ``row_hash`` mixed with the settings' fingerprint."""
    row_hashes = traces.column("row_hash").to_numpy().astype(np.uint64)
    return pa.array(row_hashes ^ np.uint64(settings), pa.uint64())


@dataclass(frozen=True)
class Refreshed:
    table: pa.Table
    computed: int  # trace rows computed in this refresh
    kept: int  # trace rows whose derived rows were kept


def refresh(traces: pa.Table, previous: pa.Table | None, settings: int, compute: Callable[[pa.Table], pa.Table],
            order: list[str]) -> Refreshed:
    """The derived rows of ``traces``: ``previous`` rows whose input is unchanged, plus ``compute`` of the
    trace rows that are new or changed (it returns derived rows for them, ``input_hash`` aside), sorted by
    ``order``."""
    hashes = input_hashes(traces, settings)
    kept = _still_valid(previous, traces.column("span_id"), hashes)
    done = pc.is_in(traces.column("span_id"), value_set=kept.column("span_id"))
    todo = traces.filter(pc.invert(done))
    computed = _with_input_hash(compute(todo), todo.column("span_id"), hashes.filter(pc.invert(done)))
    parts = [kept.select(computed.column_names).cast(computed.schema), computed] if kept.num_rows else [computed]
    table = pa.concat_tables(parts).sort_by([(name, "ascending") for name in order])
    return Refreshed(table, todo.num_rows, traces.num_rows - todo.num_rows)


def _still_valid(previous: pa.Table | None, span_ids: pa.ChunkedArray, hashes: pa.Array) -> pa.Table:
    """The previous rows that belong to a trace row of the same span whose input hash is unchanged."""
    if previous is None or INPUT_HASH not in previous.column_names:
        return pa.table({"span_id": pa.array([], pa.string())})
    current = pc.take(hashes, pc.index_in(previous.column("span_id"), value_set=span_ids))
    return previous.filter(pc.fill_null(pc.equal(current, previous.column(INPUT_HASH)), False))


def _with_input_hash(derived: pa.Table, span_ids: pa.ChunkedArray, hashes: pa.Array) -> pa.Table:
    values = pc.take(hashes, pc.index_in(derived.column("span_id"), value_set=span_ids))
    index = derived.schema.get_field_index(INPUT_HASH)
    field = pa.field(INPUT_HASH, pa.uint64())
    return derived.set_column(index, field, values) if index >= 0 else derived.append_column(field, values)
