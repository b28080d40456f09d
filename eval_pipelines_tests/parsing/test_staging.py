import pyarrow.parquet as pq

from eval_pipelines.parsing.assemble import StagedFolders
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.parsing.staging import StagingWriter
from eval_pipelines.schemas import STAGED_SCHEMAS


def test_records_missing_a_column_stage_null_there_and_whole_records_stage_every_value(tmp_path):
    whole = {"source_file": "a.jsonl", "source_line": 1, "reason": "bad", "raw": "{", "source_format": "otlp"}
    with StagingWriter(tmp_path, batch_rows=2) as writer:
        writer.add("quarantine", whole)
        writer.add("quarantine", {"source_file": "a.jsonl", "source_line": 2, "reason": "worse", "raw": "x"})
        writer.add("quarantine", whole)
    rows = pq.read_table(writer.path("quarantine")).to_pylist()
    assert [r["source_format"] for r in rows] == ["otlp", None, "otlp"]
    assert rows[0] == {name: whole.get(name) for name in STAGED_SCHEMAS["quarantine"].names}


def test_llm_rows_are_staged_in_one_file_per_hour_and_flush(tmp_path):
    llm_row = dict.fromkeys(STAGED_SCHEMAS["llm"].names)
    with StagingWriter(tmp_path / "a.jsonl" / "part-1", batch_rows=3) as writer:
        for start_ns in (5 * HOUR_NS, 5 * HOUR_NS + 1, 7 * HOUR_NS, 5 * HOUR_NS + 2):
            writer.add("llm", {**llm_row, "span_id": str(start_ns), "start_ns": start_ns})
    files = StagedFolders({"a.jsonl": tmp_path / "a.jsonl"}).hourly_files()
    assert sum(map(len, files.values())) == 3  # hours 5 and 7 from the first flush, hour 5 from the last
    fifth = [row["start_ns"] for f in files[5] for row in pq.read_table(f).to_pylist()]
    assert sorted(fifth) == [5 * HOUR_NS, 5 * HOUR_NS + 1, 5 * HOUR_NS + 2]
    assert sorted(files) == [5, 7]
