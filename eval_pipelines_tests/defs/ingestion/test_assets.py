import dagster as dg
import duckdb

from eval_pipelines.defs.ingestion.assets import trace_ingestion
from eval_pipelines.defs.validation.assets import trace_validation
from eval_pipelines.defs.validation.checks import traces_expectations
from eval_pipelines.lake import Lake
from eval_pipelines_tests.builders import HOUR_KEY, latest_llm_attributes, span, traces_request, write_lines

ASSETS = [trace_ingestion, trace_validation, traces_expectations]


def run(resources, instance, key=HOUR_KEY):
    return dg.materialize(ASSETS, partition_key=key, resources=resources, instance=instance, raise_on_error=False)


def metadata(result, asset):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def checks(result):
    return {c.check_name: c.passed for c in result.get_asset_check_evaluations()}


def llm(span_id, start_s=60.0, **attributes):
    return traces_request(span(span_id, start_s=start_s, attributes=latest_llm_attributes(**attributes)))


def test_materialize_writes_lake_tables_metadata_checks_and_report(home, resources, instance):
    write_lines(home.landing / "a.jsonl", llm("01" * 8), llm("02" * 8, answer="   "), b"{broken")
    result = run(resources, instance)
    assert result.success
    assert metadata(result, "traces")["dagster/row_count"] == 2
    assert metadata(result, "trace_quarantine")["dagster/row_count"] == 1
    validation = metadata(result, "trace_validation")
    assert validation["pass_rate"] == 0.5 and validation["flagged_missing_output"] == 1
    assert all(checks(result).values())
    rows = duckdb.sql(f"SELECT hour, count(*) FROM {Lake(home.warehouse).scan('traces')} GROUP BY hour").fetchall()
    assert rows == [(HOUR_KEY, 2)]
    (report,) = (home.reports / "validation" / "traces").glob("*.html")
    assert "span_id_unique" in report.read_text()


def test_rematerializing_a_partition_is_idempotent(home, resources, instance):
    write_lines(home.landing / "a.jsonl", llm("01" * 8), llm("02" * 8))
    first = run(resources, instance)
    second = run(resources, instance)
    assert metadata(first, "traces")["dagster/row_count"] == metadata(second, "traces")["dagster/row_count"] == 2
    assert metadata(second, "traces")["rows_before"] == 2
    assert (metadata(first, "traces")["rows_new"], metadata(second, "traces")["rows_new"]) == (2, 0)
    stored = Lake(home.warehouse).read_partition("traces", "hour", HOUR_KEY)
    assert stored.num_rows == 2
    # Unchanged rows keep the time they first became rows: the second run changed nothing.
    assert len(set(stored.column("ingested_at").to_pylist())) == 1


def test_late_data_is_added_to_an_already_materialized_hour(home, resources, instance):
    write_lines(home.landing / "early.jsonl", llm("01" * 8))
    run(resources, instance)
    write_lines(home.landing / "late" / "straggler.jsonl", llm("02" * 8, start_s=120))
    result = run(resources, instance)
    traces = metadata(result, "traces")
    assert traces["dagster/row_count"] == 2 and traces["rows_new"] == 1
    # Only the new file is parsed; the hour's first file is read from what staging kept of it.
    assert (traces["files_read"], traces["files_already_staged"]) == (1, 1)
    assert metadata(result, "trace_validation")["rows_validated"] == 1  # the early row's flags are kept


def test_an_hour_where_everything_is_quarantined_fails_the_blocking_check(home, resources, instance):
    broken = llm("01" * 8)
    broken["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "nope"
    write_lines(home.landing / "a.jsonl", broken)
    result = run(resources, instance)
    assert checks(result)["traces_rows_parsed"] is False
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"traces", "trace_quarantine", "feedback_events", "tool_spans"}
