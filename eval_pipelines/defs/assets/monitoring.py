"""Stage ``monitoring``: quality SLIs per hour and slice."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.report import latest_calibration
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import hourly_partitions
from eval_pipelines.defs.resources import LakeResource
from eval_pipelines.monitoring.slis import HourInputs, compute_slis, total_values
from eval_pipelines.schemas import QUALITY_SLIS


@dg.asset(
    description="Quality SLIs of the hour per slice (route, prompt version, model, their combination, total), "
                "each rate with numerator, denominator and a Wilson 95% interval.",
    group_name="monitoring",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces", "trace_validation", "programmatic_scores", "user_feedback", "judge_scores"],
    metadata={"dagster/column_schema": column_schema(QUALITY_SLIS)},
)
def quality_slis(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    key = context.partition_key
    store = lake.lake
    traces = store.read_partition("traces", "hour", key)
    if traces is None:
        raise dg.Failure(f"traces partition {key} has not been materialized; materialize traces first")
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
    return dg.MaterializeResult(metadata={
        "dagster/row_count": slis.num_rows, "low_sample_rows": low, **total,
        "path": dg.MetadataValue.path(str(write.path))})


def _versions(judged) -> dict[str, str]:
    """The judge version each rubric was judged with this hour (the calibration must match it)."""
    if judged is None:
        return {}
    ok = [row for row in judged.select(["rubric", "judge_version", "status"]).to_pylist() if row["status"] == "ok"]
    return {row["rubric"]: row["judge_version"] for row in ok}
