"""Stage ``ingestion``: landing files into ``traces``, ``trace_quarantine`` and ``feedback_events``."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.metadata import hourly_table_spec
from eval_pipelines.defs.partitions import hour_index
from eval_pipelines.defs.resources import IngestionConfigResource, LakeResource
from eval_pipelines.ingestion import WindowStats, build_hours
from eval_pipelines.schemas import FEEDBACK_EVENTS, TRACE_QUARANTINE, TRACES

traces_spec = hourly_table_spec(
    "traces", "One row per LLM call, in the canonical schema, from the landing files.", "ingestion", TRACES,
    kinds={"parquet", "duckdb"})
quarantine_spec = hourly_table_spec(
    "trace_quarantine", "Landing lines and spans that could not be parsed, with file, line, reason and raw text.",
    "ingestion", TRACE_QUARANTINE)
feedback_events_spec = hourly_table_spec(
    "feedback_events", "Explicit user feedback as landed (trace events and feedback files), before linking.",
    "ingestion", FEEDBACK_EVENTS)


@dg.multi_asset(specs=[traces_spec, quarantine_spec, feedback_events_spec], can_subset=False)
def trace_ingestion(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                    ingestion: IngestionConfigResource):
    """Parse every landing file with data in the hour, join spans into trace rows, replace the partition."""
    key = context.partition_key
    hour = hour_index(key)
    stats = WindowStats()
    with duckdb.get_connection() as con:
        (built,) = build_hours(lake.landing_index, hour, hour, ingestion.settings(), ingestion.price_table(),
                               con, progress=context.log.info, stats=stats)
    traces_write = lake.lake.write_partition("traces", "hour", key, built.traces)
    quarantine_write = lake.lake.write_partition("trace_quarantine", "hour", key, built.quarantine)
    feedback_write = lake.lake.write_partition("feedback_events", "hour", key, built.feedback)
    if traces_write.previous_rows is not None and traces_write.rows < traces_write.previous_rows:
        context.log.warning(f"traces {key}: {traces_write.previous_rows} rows before, {traces_write.rows} now "
                            "(a landing file was removed or rewritten)")
    context.log.info(f"traces {key}: {built.traces.num_rows} rows, {built.quarantine.num_rows} quarantined, "
                     f"{built.feedback.num_rows} feedback events, from {len(stats.files)} file(s)")
    yield dg.MaterializeResult(asset_key="traces", metadata={
        "dagster/row_count": built.traces.num_rows,
        "rows_before": traces_write.previous_rows if traces_write.previous_rows is not None else 0,
        "files_read": len(stats.files),
        "spans_staged": stats.staged.get("tree", 0),
        "path": dg.MetadataValue.path(str(traces_write.path)),
        "query": dg.MetadataValue.md(f"```sql\nSELECT * FROM {lake.lake.scan('traces')}\n"
                                     f"WHERE hour = '{key}'\n```"),
    })
    yield dg.MaterializeResult(asset_key="trace_quarantine", metadata={
        "dagster/row_count": built.quarantine.num_rows,
        "path": dg.MetadataValue.path(str(quarantine_write.path)),
        "reasons": dg.MetadataValue.md(_reason_table(built.quarantine)),
    })
    yield dg.MaterializeResult(asset_key="feedback_events", metadata={
        "dagster/row_count": built.feedback.num_rows,
        "path": dg.MetadataValue.path(str(feedback_write.path)),
    })


def _reason_table(quarantine) -> str:
    if quarantine.num_rows == 0:
        return "No quarantined lines."
    counts: dict[str, int] = {}
    for reason in quarantine.column("reason").to_pylist():
        short = reason.split(":")[0]
        counts[short] = counts.get(short, 0) + 1
    lines = ["| reason | lines |", "|---|---|"]
    lines += [f"| {reason} | {count} |" for reason, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)
