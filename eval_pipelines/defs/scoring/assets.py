"""Stage ``scoring``: programmatic evaluators on every request, and user feedback signals."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.metadata import column_schema, hourly_table_spec
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import LakeResource, ScoringConfigResource
from eval_pipelines.evaluators import ScoringStats, config_fingerprint, score_requests
from eval_pipelines.evaluators.summary import (
    pass_rates,
    wide_scores,
    worst_examples_markdown,
    write_text_evals_report,
)
from eval_pipelines.feedback import build_user_feedback
from eval_pipelines.feedback.signals import (
    RESPONSE_COLUMNS,
    SCORE_COLUMNS,
    SIGNAL_KINDS,
    TURN_COLUMNS,
    kind_counts,
    thumbs_down_share,
)
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines.increments import refresh
from eval_pipelines.parsing.feedback import KINDS as FEEDBACK_KINDS


@dg.asset(
    description="Every configured evaluator on every request of the hour: one row per request and evaluator.",
    group_name="scoring",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces"],
    metadata={"dagster/column_schema": column_schema("programmatic_scores")},
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def programmatic_scores(context: dg.AssetExecutionContext, lake: LakeResource, scoring: ScoringConfigResource,
                        duckdb: DuckDBResource) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata(_score_hour(context, lake, scoring, duckdb, key), partition_key=key)
    return dg.MaterializeResult()


def _score_hour(context: dg.AssetExecutionContext, lake: LakeResource, scoring: ScoringConfigResource,
                duckdb: DuckDBResource, key: str) -> dict:
    traces = lake.required_partition("traces", key)
    config = scoring.evaluator_config()
    stats = ScoringStats()
    with duckdb.get_connection() as con:
        refreshed = refresh(traces, lake.lake.read_partition("programmatic_scores", "hour", key),
                            config_fingerprint(config), lambda todo: score_requests(todo, config, con, stats),
                            ["span_id", "evaluator"])
        scores = refreshed.table
        write = lake.lake.write_partition("programmatic_scores", "hour", key, scores)
        worst = worst_examples_markdown(scores, traces, con)
        wide = wide_scores(scores, con) if scoring.text_evals_report and scores.num_rows else None
    rates = pass_rates(scores)
    context.log.info(f"programmatic_scores {key}: {scores.num_rows} scores for {traces.num_rows} requests "
                     f"({refreshed.computed} scored now, {refreshed.kept} unchanged); "
                     + ", ".join(f"{r.evaluator} {r.rate:.1%}" for r in rates))
    metadata = {
        "dagster/row_count": scores.num_rows,
        "requests": traces.num_rows,
        "requests_scored": refreshed.computed,
        **{f"pass_rate_{r.evaluator}": r.rate for r in rates},
        **{f"failures_{r.evaluator}": r.total - r.passed for r in rates},
        "seconds_scoring": round(sum(stats.seconds_by_evaluator.values()), 3),
        "worst_examples": dg.MetadataValue.md(worst),
        "path": dg.MetadataValue.path(str(write.path)),
    }
    if wide is not None:
        reports = lake.layout.shared("reports")
        report = write_text_evals_report(wide, reports.target(f"scoring/text_evals/{key.replace(':', '')}.html"))
        metadata["text_evals_report"] = dg.MetadataValue.url(reports.publish(report))
    return metadata


user_feedback_spec = hourly_table_spec(
    "user_feedback", "Explicit feedback linked to the LLM call it judges, and implicit signals from sessions.",
    "scoring", kinds={"parquet", "duckdb"}, deps=["feedback_events", "traces", "programmatic_scores"])
feedback_quarantine_spec = hourly_table_spec(
    "feedback_quarantine", "Feedback that could not be linked to an LLM call, with the reason.", "scoring",
    deps=["feedback_events"])


@dg.multi_asset(specs=[user_feedback_spec, feedback_quarantine_spec], can_subset=False,
                backfill_policy=HOURLY_BACKFILL_POLICY)
def feedback_linking(context: dg.AssetExecutionContext, lake: LakeResource, scoring: ScoringConfigResource,
                     duckdb: DuckDBResource):
    """Links each hour's feedback events to calls of the lookback window; derives implicit signals."""
    for key in context.partition_keys:
        _link_hour(context, lake, scoring, duckdb, key)
    yield dg.MaterializeResult(asset_key=table_key(context, "user_feedback"))
    yield dg.MaterializeResult(asset_key=table_key(context, "feedback_quarantine"))


def _link_hour(context: dg.AssetExecutionContext, lake: LakeResource, scoring: ScoringConfigResource,
               duckdb: DuckDBResource, key: str) -> None:
    hour = hour_index(key)
    settings = scoring.feedback_settings()
    window = hourly_partitions.time_window_for_partition_key(key)
    lookback = [hour_key(h) for h in range(hour - settings.link_lookback_hours, hour + 1)]
    recent = [hour_key(hour - 1), key]
    store = lake.lake
    with duckdb.get_connection() as con:
        built = build_user_feedback(
            con, store.read_partition("feedback_events", "hour", key),
            store.read_partitions("traces", "hour", lookback, RESPONSE_COLUMNS),
            store.read_partitions("traces", "hour", recent, TURN_COLUMNS),
            store.read_partitions("programmatic_scores", "hour", recent, SCORE_COLUMNS),
            window.start, window.end, settings)
    rows_write = store.write_partition("user_feedback", "hour", key, built.rows)
    quarantine_write = store.write_partition("feedback_quarantine", "hour", key, built.quarantine)
    counts = kind_counts(built.rows)
    context.log.info(f"user_feedback {key}: {built.rows.num_rows} rows ("
                     + ", ".join(f"{kind} {n}" for kind, n in counts.items())
                     + f"), {built.quarantine.num_rows} unlinked")
    context.add_asset_metadata({
        "dagster/row_count": built.rows.num_rows,
        **{f"count_{kind}": counts.get(kind, 0) for kind in (*FEEDBACK_KINDS, *SIGNAL_KINDS)},
        "thumbs_down_share": thumbs_down_share(built.rows),
        "path": dg.MetadataValue.path(str(rows_write.path)),
    }, asset_key=table_key(context, "user_feedback"), partition_key=key)
    context.add_asset_metadata({
        "dagster/row_count": built.quarantine.num_rows,
        "path": dg.MetadataValue.path(str(quarantine_write.path)),
    }, asset_key=table_key(context, "feedback_quarantine"), partition_key=key)

