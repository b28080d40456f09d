"""Stage ``review``: the hourly human review queue and the versioned golden set built from its failures."""


from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.labels import resolve
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, SNAPSHOT, history_keys, hourly_partitions
from eval_pipelines.defs.resources import LakeResource, MonitoringConfigResource, ReviewConfigResource
from eval_pipelines.judge.conversations import hour_agent_run_items
from eval_pipelines.lake import Lake
from eval_pipelines.markdown import markdown_cell
from eval_pipelines.monitoring.rules import HOURLY_SLI_TABLE
from eval_pipelines.review.golden import (
    HELD_OUT,
    REGRESSION,
    Refresh,
    counts,
    latest_version,
    manifest_path,
    refresh,
    reviewed_failures,
    splits_leak,
    write_version,
)
from eval_pipelines.review.queue import conversation_units, hard_case_reasons, open_windows, queue_row, select
from eval_pipelines.review.settings import REASONS, GoldenSettings, ReviewSettings
from eval_pipelines.schemas import REVIEW_QUEUE

REQUEST_COLUMNS = ["span_id", "trace_id", "session_id", "start_time", "route", "prompt_version", "request_model",
                   "response_model", "input_text", "output_text", "input_messages", "retrieved_context"]
VERDICT_COLUMNS = ["span_id", "rubric", "status", "label", "score", "passed", "explanation"]
DEDUP_LOOKBACK_HOURS = 7 * 24


def _rows(table: pa.Table | None) -> list[dict]:
    return table.to_pylist() if table is not None else []


def _by_span(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["span_id"], []).append(row)
    return grouped


def _judged_units(lake: LakeResource, key: str, judged: set[str]) -> list[dict]:
    """The hour's judged sessions and agent runs, as queue items."""
    if not judged:
        return []
    store = lake.lake
    sessions = [row for row in _rows(store.read_partition("sessions", "hour", key)) if row["session_key"] in judged]
    runs = [row for row in _rows(store.read_partition("agent_runs", "hour", key)) if row["trace_id"] in judged]
    return conversation_units(sessions, runs, hour_agent_run_items(store, key, [run["trace_id"] for run in runs]))


def _alerts(store: Lake) -> list[dict]:
    keys = store.partition_keys("alerts", "hour")
    return _rows(store.read_partitions("alerts", "hour", keys, ["hour_start", "event", "key", "rule", "slice",
                                                              "details"]))


@dg.asset(
    description="Requests, judged sessions and agent runs for human review in the hour: hard cases by priority, a "
                "marked random control sample of requests, no (near-)duplicates of the week's queue under the same "
                "version, within the day's and hour's caps.",
    group_name="review",
    kinds={"parquet"},
    partitions_def=hourly_partitions,
    deps=["traces", "programmatic_scores", "user_feedback", "judge_scores", "sessions", "agent_runs",
          "conversation_judge_scores", "alerts"],
    metadata={"dagster/column_schema": column_schema("review_queue")},
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def review_queue(context: dg.AssetExecutionContext, lake: LakeResource, review: ReviewConfigResource,
                 monitoring: MonitoringConfigResource) -> dg.MaterializeResult:
    # The alerts table and the settings are read once per run, not once per hour of it.
    alerts, settings = _alerts(lake.lake), review.settings()
    hourly_rules = {rule.name for rule in monitoring.alert_config().only(HOURLY_SLI_TABLE).rules}
    for key in context.partition_keys:
        context.add_asset_metadata(_queue_hour(context, lake, settings, alerts, hourly_rules, key), partition_key=key)
    return dg.MaterializeResult()


def _queue_hour(context: dg.AssetExecutionContext, lake: LakeResource, settings: ReviewSettings, alerts: list[dict],
                hourly_rules: set[str], key: str) -> dict:
    hour = hourly_partitions.time_window_for_partition_key(key).start
    store = lake.lake
    requests = lake.required_partition("traces", key, REQUEST_COLUMNS).to_pylist()
    scores = _rows(store.read_partitions("programmatic_scores", "hour", [key], ["span_id", "evaluator", "passed"]))
    verdicts = _rows(store.read_partitions("judge_scores", "hour", [key], VERDICT_COLUMNS))
    judged_units = _rows(store.read_partitions("conversation_judge_scores", "hour", [key], VERDICT_COLUMNS))
    verdicts += judged_units
    feedback = _rows(store.read_partitions("user_feedback", "hour", [key], ["span_id", "kind", "label"]))
    windows = open_windows(alerts, hour, hourly_rules)
    units = _judged_units(lake, key, {row["span_id"] for row in judged_units})
    # The control draw is of calls (``requests``); judged sessions and agent runs join as hard cases only.
    hard = hard_case_reasons(requests + units, scores, verdicts, feedback, windows, settings)
    earlier = _rows(store.read_partitions("review_queue", "hour", [
        k for k in history_keys(key, DEDUP_LOOKBACK_HOURS, daily=False) if k != key],
        ["start_time", "prompt_version", "model", "dedup_key"]))
    queued_today = sum(row["start_time"].date() == hour.date() for row in earlier)
    places = max(0, min(settings.per_hour, settings.per_day - queued_today))
    chosen = select(requests, hard, settings, places, earlier)
    verdicts_by_span = _by_span(verdicts)
    failed_by_span = _by_span([row for row in scores if row["passed"] is False])
    queue = pa.Table.from_pylist([queue_row(c, settings, verdicts_by_span.get(c.request["span_id"], []),
                                            sorted(r["evaluator"] for r in failed_by_span.get(c.request["span_id"],
                                                                                               [])))
                                  for c in chosen], schema=REVIEW_QUEUE)
    write = store.write_partition("review_queue", "hour", key, queue)
    reasons = {reason: sum(reason in c.reasons for c in chosen) for reason in REASONS}
    control = sum(c.control for c in chosen)
    context.log.info(f"review_queue {key}: {len(chosen)} queued ({control} control) of {len(hard)} hard cases, "
                     f"{len(requests)} requests and {len(units)} judged sessions and agent runs; {places} place(s) "
                     "left today; open incidents: "
                     f"{', '.join(w.key for w in windows) or 'none'}")
    return {
        "dagster/row_count": len(chosen), "control": control, "hard_cases": len(hard), "places": places,
        "queued_today_before": queued_today, "open_incidents": len(windows),
        "sessions_queued": sum(c.request.get("unit") == "session" for c in chosen),
        "agent_runs_queued": sum(c.request.get("unit") == "agent_run" for c in chosen),
        **{f"reason_{reason}": count for reason, count in reasons.items()},
        "path": dg.MetadataValue.path(str(write.path))}


def reviewed_failure_items(lake: LakeResource, duckdb: DuckDBResource, settings: GoldenSettings) -> list[dict]:
    """Queued requests that reviewers labelled as failing, as golden candidates (for the asset and the sensor)."""
    store = lake.lake
    labels = store.read_partition("human_labels", *SNAPSHOT)
    queue = store.scan_existing("review_queue")
    if labels is None or queue is None:
        return []
    resolved = resolve(labels).to_pylist()
    failing = sorted({row["item_id"] for row in resolved if row["passed"] is False})
    with duckdb.get_connection() as con:
        queued = con.sql(f"SELECT * EXCLUDE (hour) FROM {queue} WHERE list_contains($ids, span_id)",
                         params={"ids": failing}).to_arrow_table().to_pylist()
    return reviewed_failures(queued, resolved, labels.to_pylist(), settings)


@dg.asset(
    description="Reviewed production failures as a versioned golden set (<home>/golden/golden_set_vN.jsonl and "
                "its manifest): regression and held-out splits, near-duplicates removed, stratified within a cap.",
    group_name="review",
    kinds={"json"},
    deps=["review_queue", "human_labels"],
    check_specs=[dg.AssetCheckSpec("golden_set_splits_disjoint", asset="golden_set",
                                   description="No conversation, and no near-duplicate, is in both the regression "
                                               "and the held-out split.")],
)
def golden_set(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
               review: ReviewConfigResource) -> dg.MaterializeResult:
    settings = review.settings().golden
    golden = lake.layout.shared("golden")
    folder = golden.local()
    latest = latest_version(folder)
    result = refresh(latest, reviewed_failure_items(lake, duckdb, settings), settings)
    if result.considered:
        trigger = context.run.tags.get("eval_pipelines/trigger", "manual")
        current = write_version(folder, latest, result, settings, datetime.now(UTC), trigger)
        for written in (current.path, manifest_path(folder, current.version)):
            golden.publish(written)
        context.log.info(f"golden_set v{current.version}: {len(result.added)} added, {len(result.removed)} removed, "
                         f"{len(result.rejected)} rejected; {len(current.items)} items")
    elif latest is not None:
        current = latest
        context.log.info(f"golden_set: no new reviewed failure; v{latest.version} stays current")
    else:
        raise dg.Failure("no reviewed failures yet: label review_queue items in <home>/labels (see 'Review queue' in "
                         "docs/close-the-loop.md), materialize human_labels, then refresh the golden set")
    leaks = splits_leak(current.items, settings.near_duplicate_jaccard)
    tally = counts(current.items)
    return dg.MaterializeResult(
        metadata={"version": current.version, "changed": bool(result.considered), "items": tally["items"],
                  "regression_items": tally[REGRESSION], "held_out_items": tally[HELD_OUT],
                  "strata": len(tally["by_stratum"]), "added": len(result.added), "removed": len(result.removed),
                  "rejected": len(result.rejected), "diff": dg.MetadataValue.md(diff_markdown(result)),
                  "path": dg.MetadataValue.url(golden.url(current.path)),
                  "manifest": dg.MetadataValue.url(golden.url(manifest_path(folder, current.version)))},
        check_results=[dg.AssetCheckResult(check_name="golden_set_splits_disjoint", passed=not leaks,
                                           metadata={"problems": len(leaks)},
                                           description="; ".join(leaks[:5]) or None)])


def diff_markdown(result: Refresh) -> str:
    if not result.considered:
        return "No change."
    lines = ["| change | item | why |", "|---|---|---|"]
    for change, entries in (("added", result.added), ("removed", result.removed), ("rejected", result.rejected)):
        lines += [f"| {change} | {markdown_cell(e['id'])} | {markdown_cell(e['reason'], 160)} |" for e in entries[:100]]
    return "\n".join(lines)
