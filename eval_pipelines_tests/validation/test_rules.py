from datetime import UTC, datetime

import pyarrow as pa

from eval_pipelines.schemas import TRACES
from eval_pipelines.validation.rules import ValidationSettings, reason_counts, validate_rows


def traces(*rows):
    base = {"span_id": "s", "trace_id": "t", "start_time": datetime(2026, 11, 21, 14, tzinfo=UTC),
            "operation": "chat", "request_model": "m", "input_text": "q", "output_text": "a",
            "status_code": "OK", "duration_ms": 10.0, "input_tokens": 1, "output_tokens": 1, "parse_warnings": []}
    return pa.Table.from_pylist([{**base, "span_id": f"s{i}", **row} for i, row in enumerate(rows)], schema=TRACES)


def test_each_rule_flags_its_rows_and_only_those():
    table = traces(
        {},
        {"input_text": " \n", "input_messages": None},
        {"output_text": ""},
        {"output_text": None, "status_code": "ERROR"},
        {"parse_warnings": ["input_tokens is not an integer"]},
        {"duration_ms": -5.0},
        {"duration_ms": 10_000_000.0},
        {"input_tokens": -1},
        {"output_tokens": 5_000_000},
        {"operation": "embeddings"},
        {"request_model": None, "response_model": None},
    )
    result = validate_rows(table, ValidationSettings())
    assert result.column("reasons").to_pylist() == [
        [], ["missing_input"], ["missing_output"], [], ["wrong_type"], ["negative_duration"], ["absurd_duration"],
        ["negative_tokens"], ["absurd_tokens"], ["unknown_operation"], ["missing_model"]]
    assert result.column("passed").to_pylist() == [True, False, False, True] + [False] * 7
    assert reason_counts(result)["missing_output"] == 1


def test_empty_partition():
    assert validate_rows(TRACES.empty_table(), ValidationSettings()).num_rows == 0
