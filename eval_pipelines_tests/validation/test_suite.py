from datetime import UTC, datetime, timedelta

import pyarrow as pa

from eval_pipelines.schemas import TRACES
from eval_pipelines.validation.report import render_validation_report
from eval_pipelines.validation.suite import run_suite

START = datetime(2026, 11, 21, 14, tzinfo=UTC)


def test_suite_fails_exactly_the_broken_rules_and_report_escapes_values():
    rows = [{"span_id": "dup", "trace_id": "t", "start_time": START, "status_code": "OK", "input_tokens": 3},
            {"span_id": "dup", "trace_id": "t", "start_time": START + timedelta(hours=2), "status_code": "<b>X</b>",
             "input_tokens": -1}]
    outcomes = {o.name: o for o in run_suite(pa.Table.from_pylist(rows, schema=TRACES), START,
                                             START + timedelta(hours=1))}
    assert {name for name, o in outcomes.items() if not o.passed} == {
        "span_id_unique", "start_time_in_partition", "token_counts_non_negative", "status_code_known"}
    page = render_validation_report("traces <hour>", list(outcomes.values()), 2)
    assert "<b>X</b>" not in page and "&lt;b&gt;X&lt;/b&gt;" in page
    assert "traces &lt;hour&gt;" in page
