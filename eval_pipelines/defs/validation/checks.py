"""``traces_expectations``: the Great Expectations suite as asset checks on ``traces``, one per rule."""

from datetime import timedelta

import dagster as dg

from eval_pipelines.defs.checks import merge_hours
from eval_pipelines.defs.partitions import hourly_partitions
from eval_pipelines.defs.resources import LakeResource
from eval_pipelines.validation.report import render_validation_report, write_report
from eval_pipelines.validation.suite import RULES as SUITE_RULES
from eval_pipelines.validation.suite import run_suite


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

