"""Stage ``validation``: row-level flags in ``trace_validation`` and the GX suite as checks on ``traces``."""


from datetime import timedelta

import dagster as dg

from eval_pipelines.defs.checks import merge_hours
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import IngestionConfigResource, LakeResource
from eval_pipelines.increments import refresh
from eval_pipelines.schemas import TRACE_VALIDATION
from eval_pipelines.validation.report import render_validation_report, write_report
from eval_pipelines.validation.rules import reason_counts, validate_rows, validation_fingerprint
from eval_pipelines.validation.suite import RULES as SUITE_RULES
from eval_pipelines.validation.suite import run_suite


@dg.asset(
    description="Per trace row: whether it passes the row-level rules, and the names of those it breaks.",
    group_name="validation",
    kinds={"parquet", "pandas"},
    partitions_def=hourly_partitions,
    deps=["traces"],
    metadata={"dagster/column_schema": column_schema(TRACE_VALIDATION)},
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def trace_validation(context: dg.AssetExecutionContext, lake: LakeResource,
                     ingestion: IngestionConfigResource) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata(_validate_hour(context, lake, ingestion, key), partition_key=key)
    return dg.MaterializeResult()


def _validate_hour(context: dg.AssetExecutionContext, lake: LakeResource, ingestion: IngestionConfigResource,
                   key: str) -> dict:
    traces = lake.required_partition("traces", key)
    settings = ingestion.validation()
    refreshed = refresh(traces, lake.lake.read_partition("trace_validation", "hour", key),
                        validation_fingerprint(settings), lambda todo: validate_rows(todo, settings), ["span_id"])
    validation = refreshed.table
    write = lake.lake.write_partition("trace_validation", "hour", key, validation)
    rows = validation.num_rows
    passed = sum(validation.column("passed").to_pylist())
    counts = reason_counts(validation)
    context.log.info(f"trace_validation {key}: {passed}/{rows} rows pass ({refreshed.computed} validated now, "
                     f"{refreshed.kept} unchanged); flagged: "
                     + ", ".join(f"{name}={n}" for name, n in counts.items() if n))
    return {
        "dagster/row_count": rows,
        "rows_validated": refreshed.computed,
        "pass_rate": passed / rows if rows else 1.0,
        "rows_flagged": rows - passed,
        **{f"flagged_{name}": count for name, count in counts.items()},
        "path": dg.MetadataValue.path(str(write.path)),
    }


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(f"traces_{rule.name}", asset="traces", description=rule.description,
                             blocking=rule.blocking) for rule in SUITE_RULES]
    + [dg.AssetCheckSpec("traces_rows_parsed", asset="traces", blocking=True,
                         description="An hour with landing data yields rows: not everything was quarantined.")],
    description="The Great Expectations suite over the traces partition, one check per rule.",
)
def traces_expectations(context: dg.AssetCheckExecutionContext, lake: LakeResource):
    keys = hourly_partitions.get_partition_keys_in_range(context.op_execution_context.partition_key_range)
    yield from merge_hours({key: _expectations_of_hour(lake, key) for key in keys})


def _expectations_of_hour(lake: LakeResource, key: str) -> list[dg.AssetCheckResult]:
    traces = lake.required_partition("traces", key)
    quarantine = lake.lake.read_partition("trace_quarantine", "hour", key)
    window = hourly_partitions.time_window_for_partition_key(key)
    outcomes = run_suite(traces, window.start, window.start + timedelta(hours=1))
    page = render_validation_report(f"traces {key}: Great Expectations suite", outcomes, traces.num_rows)
    reports = lake.layout.shared("reports")
    report = write_report(reports.target(f"validation/traces/{key.replace(':', '')}.html"), page)
    link = dg.MetadataValue.url(reports.publish(report))
    results = [dg.AssetCheckResult(
        check_name=f"traces_{outcome.name}", passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
        metadata={"partition": key, "report": link, "observed": dg.MetadataValue.json(outcome.observed)})
        for outcome in outcomes]
    quarantined = quarantine.num_rows if quarantine is not None else 0
    return [*results, dg.AssetCheckResult(
        check_name="traces_rows_parsed", passed=not (traces.num_rows == 0 and quarantined > 0),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"partition": key, "rows": traces.num_rows, "quarantined": quarantined, "report": link},
        description=None if traces.num_rows or not quarantined else
        f"every one of {quarantined} dated line(s) in {key} was quarantined: see trace_quarantine",
    )]

