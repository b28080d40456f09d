import pyarrow as pa

from eval_pipelines.increments import fingerprint, refresh

SCHEMA = pa.schema([("span_id", pa.string()), ("value", pa.string()), ("input_hash", pa.uint64())])


def traces(**content: int) -> pa.Table:
    return pa.table({"span_id": list(content), "row_hash": pa.array(list(content.values()), pa.uint64())})


class Derive:
    """A derived table computed per trace row, recording which rows it was asked for."""

    def __init__(self, tag: str = "v") -> None:
        self.tag = tag
        self.asked: list[str] = []

    def __call__(self, todo: pa.Table) -> pa.Table:
        ids = todo.column("span_id").to_pylist()
        self.asked += ids
        return pa.table({"span_id": ids, "value": [f"{self.tag}{i}" for i in ids],
                         "input_hash": pa.nulls(len(ids), pa.uint64())}, schema=SCHEMA)


def test_only_new_and_changed_rows_are_computed_and_the_result_equals_a_full_computation():
    settings = fingerprint("settings")
    first = refresh(traces(a=1, b=2, c=3), None, settings, Derive(), ["span_id"])
    derive = Derive()
    # b changed, c is gone, d is new
    second = refresh(traces(a=1, b=20, d=4), first.table, settings, derive, ["span_id"])
    assert sorted(derive.asked) == ["b", "d"] and (second.computed, second.kept) == (2, 1)
    full = refresh(traces(a=1, b=20, d=4), None, settings, Derive(), ["span_id"])
    assert second.table.equals(full.table)
    assert second.table.column("span_id").to_pylist() == ["a", "b", "d"]


def test_other_settings_recompute_every_row():
    first = refresh(traces(a=1, b=2), None, fingerprint("old"), Derive("old-"), ["span_id"])
    derive = Derive("new-")
    second = refresh(traces(a=1, b=2), first.table, fingerprint("new"), derive, ["span_id"])
    assert sorted(derive.asked) == ["a", "b"]
    assert second.table.column("value").to_pylist() == ["new-a", "new-b"]


def test_rows_stored_before_input_hashes_existed_are_computed_again():
    stored = pa.table({"span_id": ["a"], "value": ["x"]})
    derive = Derive()
    refreshed = refresh(traces(a=1), stored, fingerprint("s"), derive, ["span_id"])
    assert derive.asked == ["a"] and refreshed.table.column("value").to_pylist() == ["va"]
