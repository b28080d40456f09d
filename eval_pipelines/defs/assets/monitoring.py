"""Stage ``monitoring``: quality SLIs per hour and slice."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.report import latest_calibration
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import hour_index, hour_key, hourly_partitions
from eval_pipelines.defs.resources import LakeResource, MonitoringConfigResource
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.alerting import history_hours
from eval_pipelines.monitoring.incidents import describe
from eval_pipelines.monitoring.rules import evaluate_rules, load_alert_config
from eval_pipelines.monitoring.slis import KNOWN_SLIS, HourInputs, compute_slis, total_values
from eval_pipelines.schemas import QUALITY_SLIS


@dg.asset(
    description="Quality SLIs of the hour per slice (route, prompt version, model, their combination, total), "
                "each rate with numerator, denominator and a Wilson 95% interval.",
    group_name="monitoring",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces", "trace_validation", "programmatic_scores", "user_feedback", "judge_scores"],
    metadata={"dagster/column_schema": column_schema(QUALITY_SLIS)},
    # One check per alert rule (from the configuration found when the definitions load): red while it breaches.
    check_specs=[dg.AssetCheckSpec(f"quality_slis_{rule.name}", asset="quality_slis",
                                   description=rule.description or f"{rule.sli} within its alert rule")
                 for rule in load_alert_config(known_slis=KNOWN_SLIS).rules],
)
def quality_slis(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                 monitoring: MonitoringConfigResource) -> dg.MaterializeResult:
    key = context.partition_key
    store = lake.lake
    traces = lake.required_partition("traces", key)
    judged = store.read_partition("judge_scores", "hour", key)
    with duckdb.get_connection() as con:
        calibration = latest_calibration(con, store.scan_existing("judge_calibration"), _versions(judged))
        inputs = HourInputs(traces, store.read_partition("trace_validation", "hour", key),
                            store.read_partition("programmatic_scores", "hour", key),
                            store.read_partition("user_feedback", "hour", key), judged, calibration)
        slis = compute_slis(con, hourly_partitions.time_window_for_partition_key(key).start, inputs)
    write = store.write_partition("quality_slis", "hour", key, slis)
    total = total_values(slis)
    low = sum(1 for flag in slis.column("low_sample").to_pylist() if flag)
    context.log.info(f"quality_slis {key}: {slis.num_rows} rows ({low} on small samples); total "
                     + ", ".join(f"{name} {value:.3g}" for name, value in total.items()))
    return dg.MaterializeResult(
        metadata={"dagster/row_count": slis.num_rows, "low_sample_rows": low, **total,
                  "path": dg.MetadataValue.path(str(write.path))},
        check_results=_rule_checks(store, monitoring, key, context))


def _rule_checks(store: Lake, monitoring: MonitoringConfigResource, key: str,
                 context: dg.AssetExecutionContext) -> list[dg.AssetCheckResult]:
    """Each rule evaluated at this hour over the stored history (no incident state: that is the sensor's)."""
    config = monitoring.alert_config()
    declared = {spec.name for spec in context.assets_def.check_specs}
    index = hour_index(key)
    history = store.read_partitions("quality_slis", "hour",
                                    [hour_key(h) for h in range(index - history_hours(config), index + 1)])
    breaches = {b.rule.name: b for b in evaluate_rules(config.rules, history,
                                                       hourly_partitions.time_window_for_partition_key(key).start)}
    return [dg.AssetCheckResult(
        check_name=f"quality_slis_{rule.name}", passed=rule.name not in breaches,
        severity=dg.AssetCheckSeverity.ERROR if rule.severity == "page" else dg.AssetCheckSeverity.WARN,
        description=describe(breaches[rule.name], None) if rule.name in breaches else None,
        metadata={"sli": rule.sli, "slice": breaches[rule.name].slice if rule.name in breaches else ""})
        for rule in config.rules if f"quality_slis_{rule.name}" in declared]


def _versions(judged) -> dict[str, str]:
    """The judge version each rubric was judged with this hour (the calibration must match it)."""
    if judged is None:
        return {}
    ok = [row for row in judged.select(["rubric", "judge_version", "status"]).to_pylist() if row["status"] == "ok"]
    return {row["rubric"]: row["judge_version"] for row in ok}
