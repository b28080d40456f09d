"""``trace_validation``: row-level flags of each trace row."""



import dagster as dg

from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import IngestionConfigResource, LakeResource
from eval_pipelines.increments import refresh
from eval_pipelines.validation.rules import reason_counts, validate_rows, validation_fingerprint


@dg.asset(
    description="Per trace row: whether it passes the row-level rules, and the names of those it breaks.",
    group_name="validation",
    kinds={"parquet", "pandas"},
    partitions_def=hourly_partitions,
    deps=["traces"],
    metadata={"dagster/column_schema": column_schema("trace_validation")},
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
