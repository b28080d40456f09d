"""Stage ``monitoring``: quality SLIs per hour, minute and slice, the alerts they raise, and the daily
drift report."""


from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.report import latest_calibration
from eval_pipelines.defs.checks import merge_hours, rule_check_specs, rule_checks
from eval_pipelines.defs.judgements import JUDGED_TABLES
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, daily_partitions, hourly_partitions, key_start
from eval_pipelines.defs.resources import LakeResource, MonitoringConfigResource, ScoringConfigResource
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.dashboard import AGREEMENT_PREFIX, EvidentlyWorkspace, sli_series
from eval_pipelines.monitoring.drift import compare, drift_rows, read_side
from eval_pipelines.monitoring.paging import (
    DAILY_ALERTS,
    DAILY_STATE,
    HOURLY_ALERTS,
    STATE,
    Paged,
    hourly_history,
    page_day,
    page_hour,
)
from eval_pipelines.monitoring.slis import HourInputs, compute_slis, total_values
from eval_pipelines.schemas import TRACES

ALERTING_POOL = "alerting"


@dg.asset(
    description="Quality SLIs of the hour per slice (route, prompt version, model, their combination, total), "
                "each rate with numerator, denominator and a Wilson 95% interval.",
    group_name="monitoring",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces", "trace_validation", "programmatic_scores", "user_feedback", "judge_scores", "sessions",
          "agent_runs", "conversation_judge_scores"],
    metadata={"dagster/column_schema": column_schema("quality_slis")},
    check_specs=rule_check_specs("quality_slis", "quality_slis"),
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def quality_slis(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                 monitoring: MonitoringConfigResource, scoring: ScoringConfigResource) -> dg.MaterializeResult:
    custom = tuple(scoring.evaluator_config().custom)
    for key in context.partition_keys:
        _slis_of_hour(context, lake, duckdb, monitoring, key, custom)
    checks = rule_checks(context, lake.lake, monitoring, "quality_slis", context.partition_keys)
    return dg.MaterializeResult(check_results=merge_hours(checks))


def _slis_of_hour(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                  monitoring: MonitoringConfigResource, key: str, custom_evaluators: tuple[str, ...]) -> None:
    """Writes the hour's SLIs and metadata (and pushes them to the Evidently workspace)."""
    hour = hourly_partitions.time_window_for_partition_key(key).start
    store = lake.lake
    sessions = store.read_partition("sessions", "hour", key)
    traces = store.read_partition("traces", "hour", key)
    if traces is None:
        # Sessions may close in an hour without calls of its own: their SLIs still count there.
        traces = lake.required_partition("traces", key) if sessions is None else TRACES.empty_table()
    judged = _judged(store, key)
    with duckdb.get_connection() as con:
        calibration = latest_calibration(con, store.scan_existing("judge_calibration"), _versions(judged))
        inputs = HourInputs(traces, store.read_partition("trace_validation", "hour", key),
                            store.read_partition("programmatic_scores", "hour", key),
                            store.read_partition("user_feedback", "hour", key), judged, calibration,
                            custom_evaluators, sessions, store.read_partition("agent_runs", "hour", key))
        slis = compute_slis(con, hour, inputs)
    write = store.write_partition("quality_slis", "hour", key, slis)
    if monitoring.evidently_workspace:
        kappas = {f"{AGREEMENT_PREFIX}{rubric}": row["cohen_kappa"] for rubric, row in calibration.items()}
        EvidentlyWorkspace(lake.layout.evidently).push_values(sli_series(slis) | kappas, hour, "slis")
    total = total_values(slis)
    low = sum(1 for flag in slis.column("low_sample").to_pylist() if flag)
    context.log.info(f"quality_slis {key}: {slis.num_rows} rows ({low} on small samples); total "
                     + ", ".join(f"{name} {value:.3g}" for name, value in total.items()))
    context.add_asset_metadata({"dagster/row_count": slis.num_rows, "low_sample_rows": low, **total,
                                **_freshness(traces), "path": dg.MetadataValue.path(str(write.path))},
                               partition_key=key)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("drift_report", description="Evidently drift report of the UTC day against a reference period "
                     "(the 7 days before, or pinned): input and output descriptors, topic, language, model / prompt "
                     "version / route mix, texts.", group_name="monitoring", kinds={"evidently", "html"},
                     partitions_def=daily_partitions, deps=["traces", "programmatic_scores"]),
        dg.AssetSpec("drift_scores", description="The drift report's scores per column and its drift share, as SLI "
                     "rows the daily alert rules read.", group_name="monitoring", kinds={"parquet"},
                     partitions_def=daily_partitions, deps=["traces", "programmatic_scores"],
                     metadata={"dagster/column_schema": column_schema("drift_scores")}),
    ],
    check_specs=rule_check_specs("drift_report", "drift_scores"),
    can_subset=False,
)
def drift_report(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                 monitoring: MonitoringConfigResource):
    day = date.fromisoformat(context.partition_key)
    settings = monitoring.drift_settings()
    store = lake.lake
    start, end = settings.reference.period(day)
    with duckdb.get_connection() as con:
        current = read_side(store, con, day, day, settings)
        if not current.total_rows:
            raise dg.Failure(f"no traces on {day}: materialize the day's traces first")
        reference = read_side(store, con, start, end, settings)
    if not reference.total_rows:
        context.log.warning(f"drift {day}: no traces in the reference period {start}..{end}; nothing compared")
        yield dg.MaterializeResult(
            asset_key=table_key(context, "drift_report"),
            metadata={"status": "no reference data", "reference": f"{start}..{end}",
                      "rows_current": current.total_rows},
            check_results=rule_checks(context, store, monitoring, "drift_scores", [day.isoformat()],
                                      evaluate=False)[day.isoformat()])
        yield dg.MaterializeResult(asset_key=table_key(context, "drift_scores"), metadata={"dagster/row_count": 0})
        return
    reports = lake.layout.shared("reports")
    html = reports.target(f"drift/drift-{day.isoformat()}.html")
    result = compare(current, reference, settings, day, html)
    report_url = reports.publish(html)
    scores = drift_rows(result)
    write = store.write_partition("drift_scores", "day", day.isoformat(), scores)
    context.log.info(result.summary())
    if monitoring.evidently_workspace:
        workspace = EvidentlyWorkspace(lake.layout.evidently)
        workspace.push_snapshot(result.snapshot)
        workspace.push_values({"drift_share": result.drift_share}, key_start(day.isoformat(), daily=True), "drift")
    yield dg.MaterializeResult(
        asset_key=table_key(context, "drift_report"),
        metadata={"drift_share": result.drift_share, "drifted_columns": len(result.drifted_columns),
                  "drifted": ", ".join(result.drifted_columns) or "none",
                  **{f"drift_score_{c.column}": c.score for c in result.columns},
                  "rows_current": current.total_rows, "rows_reference": reference.total_rows,
                  "rows_compared": len(current.frame) + len(reference.frame),
                  "reference": f"{start}..{end}", "report": dg.MetadataValue.url(report_url)},
        check_results=rule_checks(context, store, monitoring, "drift_scores", [day.isoformat()])[day.isoformat()])
    yield dg.MaterializeResult(asset_key=table_key(context, "drift_scores"), metadata={
        "dagster/row_count": scores.num_rows, "path": dg.MetadataValue.path(str(write.path))})


def _freshness(traces) -> dict[str, float]:
    """Seconds from the hour's newest call ending to its SLIs (time-to-SLI, what the UI plots)."""
    if traces.num_rows == 0:
        return {}
    newest = max(end for end in traces.column("end_time").to_pylist() if end is not None)
    return {"seconds_since_newest_call": round((datetime.now(UTC) - newest).total_seconds(), 3)}


@dg.asset(
    description="Alert rules evaluated at every minute of the hour's SLIs, right after they are written: incidents "
                "opened and resolved, each delivered to its channels once.",
    group_name="monitoring",
    kinds={"parquet"},
    partitions_def=hourly_partitions,
    deps=["quality_slis"],
    pool=ALERTING_POOL,
    metadata={"dagster/column_schema": column_schema("alerts")},
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def alerts(context: dg.AssetExecutionContext, lake: LakeResource,
           monitoring: MonitoringConfigResource) -> dg.MaterializeResult:
    config, store = monitoring.alert_config(), lake.lake
    window = context.partition_time_window
    history = hourly_history(store, config, window.start, window.end - timedelta(hours=1))
    for key in context.partition_keys:
        hour = hourly_partitions.time_window_for_partition_key(key).start
        paged = page_hour(store, config, hour, history, datetime.now(UTC), log=context.log.warning)
        _record_alerts(context, lake, monitoring, HOURLY_ALERTS, key, hour, paged, STATE)
    return dg.MaterializeResult()


@dg.asset(
    description="Daily alert rules (drift, judge canary, online-offline divergence) evaluated at the end of the day "
                "their results are written for: incidents opened and resolved, each delivered to its channels once.",
    group_name="monitoring",
    kinds={"parquet"},
    partitions_def=daily_partitions,
    deps=["drift_scores", "canary_scores", "divergence_scores"],
    pool=ALERTING_POOL,
    metadata={"dagster/column_schema": column_schema("daily_alerts")},
)
def daily_alerts(context: dg.AssetExecutionContext, lake: LakeResource,
                 monitoring: MonitoringConfigResource) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    paged = page_day(lake.lake, monitoring.alert_config(), day, datetime.now(UTC), log=context.log.warning)
    _record_alerts(context, lake, monitoring, DAILY_ALERTS, context.partition_key, key_start(day.isoformat(), True),
                   paged, DAILY_STATE)
    return dg.MaterializeResult()


def _record_alerts(context: dg.AssetExecutionContext, lake: LakeResource, monitoring: MonitoringConfigResource,
                   table: str, key: str, start: datetime, paged: Paged, state: str) -> None:
    """The partition's rows, then the state (see :mod:`eval_pipelines.monitoring.paging`), then logs and metadata."""
    store = lake.lake
    writes = {partition: store.write_partition(table, "hour" if table == HOURLY_ALERTS else "day", partition, rows)
              for partition, rows in paged.rows.items()}
    store.write_state(state, paged.state)
    later = sorted(set(writes) - {key})
    if later:
        context.log.info(f"{table} {key}: late data, the minutes of {', '.join(later)} evaluated again "
                         "and their alert rows rewritten")
    opened = sum(event.event == "opened" for event in paged.events)
    for event in paged.events:
        context.log.info(f"{event.at:%Y-%m-%d %H:%M} {event.event} [{event.severity}] {event.rule}: {event.message}")
    context.log.info(f"{table} {key}: {paged.evaluations} evaluation(s), {opened} incident(s) opened, "
                     f"{len(paged.events) - opened} resolved, {paged.open} open; {paged.sent_now} event(s) "
                     "delivered now")
    if monitoring.evidently_workspace and paged.evaluations:
        EvidentlyWorkspace(lake.layout.evidently).push_values(
            {"incidents_opened": opened, "incidents_resolved": len(paged.events) - opened,
             "incidents_open": paged.open}, start, table)
    context.add_asset_metadata({
        "dagster/row_count": paged.rows[key].num_rows, "evaluations": paged.evaluations, "incidents_opened": opened,
        "incidents_resolved": len(paged.events) - opened, "incidents_open": paged.open,
        "events_delivered_now": paged.sent_now, "later_hours_evaluated_again": len(later),
        "path": dg.MetadataValue.path(str(writes[key].path))},
        partition_key=key if table == HOURLY_ALERTS else None)


def _judged(store: Lake, key: str) -> pa.Table | None:
    """The hour's verdicts on calls, sessions and agent runs together (one SLI per rubric)."""
    parts = [part for table in JUDGED_TABLES if (part := store.read_partition(table, "hour", key)) is not None]
    return pa.concat_tables(parts) if parts else None


def _versions(judged) -> dict[str, str]:
    """The judge version each rubric was judged with this hour (the calibration must match it)."""
    if judged is None:
        return {}
    ok = [row for row in judged.select(["rubric", "judge_version", "status"]).to_pylist() if row["status"] == "ok"]
    return {row["rubric"]: row["judge_version"] for row in ok}
