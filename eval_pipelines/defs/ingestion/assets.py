"""Stage ``ingestion``: landing files into ``traces``, ``trace_quarantine``, ``feedback_events`` and
``tool_spans``."""


import dagster as dg
import pyarrow.compute as pc
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.metadata import hourly_table_spec
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY
from eval_pipelines.defs.resources import IngestionConfigResource, LakeResource
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines.ingestion import HourBuild, WindowStats, arrival_lag, build_hours
from eval_pipelines.markdown import markdown_cell

traces_spec = hourly_table_spec(
    "traces", "One row per LLM call, in the canonical schema, from the landing files.", "ingestion",
    kinds={"parquet", "duckdb"})
quarantine_spec = hourly_table_spec(
    "trace_quarantine", "Landing lines and spans that could not be parsed, with file, line, reason and raw text.",
    "ingestion")
feedback_events_spec = hourly_table_spec(
    "feedback_events", "Explicit user feedback as landed (trace events and feedback files), before linking.",
    "ingestion")
tool_spans_spec = hourly_table_spec(
    "tool_spans", "One row per tool execution (execute_tool, OpenInference TOOL, ai.toolCall spans): tool, "
    "arguments, result, status, error and duration.", "ingestion")


@dg.multi_asset(specs=[traces_spec, quarantine_spec, feedback_events_spec, tool_spans_spec], can_subset=False,
                backfill_policy=HOURLY_BACKFILL_POLICY)
def trace_ingestion(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                    ingestion: IngestionConfigResource):
    """Parse every landing file with data in the run's hours (once), join spans into trace rows, replace each
    hour's partition."""
    keys = context.partition_keys
    stats = WindowStats()
    store = lake.lake
    settings = ingestion.settings()
    with duckdb.get_connection() as con:
        for built in build_hours(lake.landing_index(settings), hour_index(keys[0]), hour_index(keys[-1]), settings,
                                 ingestion.price_table(), con, cache=lake.layout.staging, progress=context.log.info,
                                 stats=stats, previous=lambda hour: store.read_partition("traces", "hour",
                                                                                         hour_key(hour))):
            _write_hour(context, lake, hour_key(built.hour), built)
    context.log.info(f"parsed {len(stats.files)} new landing file(s), {stats.cached_files} already staged")
    context.add_asset_metadata({"files_read": len(stats.files), "files_already_staged": stats.cached_files,
                                "spans_staged": stats.spans_staged}, asset_key=table_key(context, "traces"))
    for table in ("traces", "trace_quarantine", "feedback_events", "tool_spans"):
        yield dg.MaterializeResult(asset_key=table_key(context, table))


def _write_hour(context: dg.AssetExecutionContext, lake: LakeResource, key: str, built: HourBuild) -> None:
    traces_write = lake.lake.write_partition("traces", "hour", key, built.traces)
    quarantine_write = lake.lake.write_partition("trace_quarantine", "hour", key, built.quarantine)
    feedback_write = lake.lake.write_partition("feedback_events", "hour", key, built.feedback)
    tools_write = lake.lake.write_partition("tool_spans", "hour", key, built.tools)
    if traces_write.previous_rows is not None and traces_write.rows < traces_write.previous_rows:
        context.log.warning(f"traces {key}: {traces_write.previous_rows} rows before, {traces_write.rows} now "
                            "(a landing file was removed or rewritten)")
    new = built.new_rows
    lag = arrival_lag(new)
    context.log.info(f"traces {key}: {built.traces.num_rows} rows ({new.num_rows} new), "
                     f"{built.quarantine.num_rows} quarantined, {built.feedback.num_rows} feedback events, "
                     f"{built.tools.num_rows} tool executions")
    context.add_asset_metadata({
        "dagster/row_count": built.traces.num_rows,
        "rows_before": traces_write.previous_rows if traces_write.previous_rows is not None else 0,
        "rows_new": new.num_rows,
        **lag,
        "path": dg.MetadataValue.path(str(traces_write.path)),
        "query": dg.MetadataValue.md(f"```sql\nSELECT * FROM {lake.lake.scan('traces')}\n"
                                     f"WHERE hour = '{key}'\n```"),
    }, asset_key=table_key(context, "traces"), partition_key=key)
    context.add_asset_metadata({
        "dagster/row_count": built.quarantine.num_rows,
        "path": dg.MetadataValue.path(str(quarantine_write.path)),
        "reasons": dg.MetadataValue.md(_reason_table(built.quarantine)),
    }, asset_key=table_key(context, "trace_quarantine"), partition_key=key)
    context.add_asset_metadata({
        "dagster/row_count": built.feedback.num_rows,
        "path": dg.MetadataValue.path(str(feedback_write.path)),
    }, asset_key=table_key(context, "feedback_events"), partition_key=key)
    context.add_asset_metadata({
        "dagster/row_count": built.tools.num_rows,
        "tool_errors": pc.sum(pc.equal(built.tools.column("status_code"), "ERROR")).as_py() or 0,
        "path": dg.MetadataValue.path(str(tools_write.path)),
    }, asset_key=table_key(context, "tool_spans"), partition_key=key)


def _reason_table(quarantine) -> str:
    if quarantine.num_rows == 0:
        return "No quarantined lines."
    counts: dict[str, int] = {}
    for reason in quarantine.column("reason").to_pylist():
        short = reason.split(":")[0]
        counts[short] = counts.get(short, 0) + 1
    lines = ["| reason | lines |", "|---|---|"]
    lines += [f"| {markdown_cell(reason)} | {count} |"
              for reason, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)
