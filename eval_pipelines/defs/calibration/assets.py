"""Stage ``calibration``: human labels, the judge measured against them, and the daily canary."""


from datetime import UTC, date, datetime

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.labels import label_files, read_label_files, resolve
from eval_pipelines.calibration.report import (
    CalibrationItem,
    calibration_rows,
    canary_rows,
    item_from_record,
    read_items,
    seed_items,
)
from eval_pipelines.calibration.statistics import compare_canary
from eval_pipelines.config import packaged_default
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import SNAPSHOT, daily_partitions, day_start
from eval_pipelines.defs.resources import JudgeResource, LakeResource
from eval_pipelines.judge.conversations import STEP_COLUMNS, TOOL_STEP_COLUMNS, agent_run_items, session_item
from eval_pipelines.judge.run import budget_gate, judge_item, plan_items, run_judgements, verdict_cache
from eval_pipelines.lake import Lake
from eval_pipelines.markdown import markdown_cell
from eval_pipelines.review.golden import latest_version, regression_spans
from eval_pipelines.schemas import (
    JUDGE_CANARY,
    JUDGE_SAMPLE,
)

SWAPPED = "calibration:swapped"
SEED_LABELS = "seed_labels.jsonl"
CONTENT = ["span_id", "trace_id", "route", "input_text", "output_text", "tool_calls", "retrieved_context",
           "system_instructions"]

human_labels_spec = dg.AssetSpec(
    "human_labels", description="Reviewers' labels from <home>/labels (plus the illustrative seed set), one per "
    "reviewer, item and rubric.", group_name="calibration", kinds={"parquet"},
    metadata={"dagster/column_schema": column_schema("human_labels")})
label_quarantine_spec = dg.AssetSpec(
    "label_quarantine", description="Label rows that could not be used, with the reason.", group_name="calibration",
    kinds={"parquet"}, metadata={"dagster/column_schema": column_schema("label_quarantine")})


@dg.multi_asset(specs=[human_labels_spec, label_quarantine_spec], can_subset=False)
def label_ingestion(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource):
    """Reads every label file (JSONL or CSV); bad rows are quarantined, the rest kept latest-per-reviewer."""
    labels_folder = lake.layout.shared("labels").local()
    files = [(packaged_default("calibration") / SEED_LABELS, f"(packaged) {SEED_LABELS}")]
    files += [(path, str(path.relative_to(labels_folder))) for path in label_files(labels_folder)]
    built = read_label_files(files, judge.rubrics())
    labels_write = lake.lake.write_partition("human_labels", *SNAPSHOT, built.labels)
    lake.lake.write_partition("label_quarantine", *SNAPSHOT, built.quarantine)
    resolved = resolve(built.labels)
    ties = sum(resolved.column("tie").to_pylist())
    context.log.info(f"human_labels: {built.labels.num_rows} labels from {len(files)} file(s) on "
                     f"{resolved.num_rows} items ({ties} ties); {built.quarantine.num_rows} rows quarantined, "
                     f"{built.unlabelled} template rows left empty")
    yield dg.MaterializeResult(asset_key=table_key(context, "human_labels"), metadata={
        "dagster/row_count": built.labels.num_rows, "items": resolved.num_rows, "ties": ties,
        "reviewers": len(set(built.labels.column("reviewer_id").to_pylist())), "files": len(files),
        "unlabelled_rows": built.unlabelled,
        "path": dg.MetadataValue.path(str(labels_write.path))})
    yield dg.MaterializeResult(asset_key=table_key(context, "label_quarantine"), metadata={
        "dagster/row_count": built.quarantine.num_rows,
        "reasons": dg.MetadataValue.md(_reasons_markdown(built.quarantine))})


def _reasons_markdown(quarantine: pa.Table) -> str:
    if not quarantine.num_rows:
        return "No label row was rejected."
    lines = ["| file | line | reason |", "|---|---:|---|"]
    lines += [f"| {markdown_cell(r['source_file'])} | {r['source_line']} | {markdown_cell(r['reason'], 160)} |"
              for r in quarantine.to_pylist()[:50]]
    return "\n".join(lines)


def _span_items(lake: LakeResource, duckdb: DuckDBResource, ids: list[str]) -> dict[str, CalibrationItem]:
    """Content of labelled production spans, wherever in the lake they are."""
    traces = lake.lake.scan_existing("traces")
    if not ids or traces is None:
        return {}
    with duckdb.get_connection() as con:
        rows = con.sql(f"SELECT {', '.join(CONTENT)} FROM {traces} "
                       "WHERE list_contains($ids, span_id)", params={"ids": ids}).to_arrow_table().to_pylist()
    return {row["span_id"]: CalibrationItem(row["span_id"], row["route"], judge_item(row)) for row in rows}


def _session_items(lake: LakeResource, duckdb: DuckDBResource, ids: list[str]) -> dict[str, CalibrationItem]:
    """Labelled production sessions (labels keyed by session key), wherever in the lake they are."""
    sessions = lake.lake.scan_existing("sessions")
    if not ids or sessions is None:
        return {}
    with duckdb.get_connection() as con:
        rows = con.sql(f"SELECT session_key, route, transcript FROM {sessions} WHERE list_contains($ids, session_key)",
                       params={"ids": ids}).to_arrow_table().to_pylist()
    return {row["session_key"]: CalibrationItem(row["session_key"], row["route"], session_item(row)) for row in rows}


def _agent_run_items(lake: LakeResource, duckdb: DuckDBResource, ids: list[str]) -> dict[str, CalibrationItem]:
    """Labelled production agent runs (labels keyed by trace id) with their steps from ``traces`` and
    ``tool_spans``."""
    runs, traces = lake.lake.scan_existing("agent_runs"), lake.lake.scan_existing("traces")
    tools = lake.lake.scan_existing("tool_spans")
    if not ids or runs is None or traces is None:
        return {}
    with duckdb.get_connection() as con:
        labelled = con.sql(f"SELECT DISTINCT trace_id, route FROM {runs} WHERE list_contains($ids, trace_id)",
                           params={"ids": ids}).to_arrow_table()
        traced = {"ids": labelled.column("trace_id").to_pylist()}
        calls = con.sql(f"SELECT {', '.join(STEP_COLUMNS)} FROM {traces} WHERE list_contains($ids, trace_id)",
                        params=traced).to_arrow_table()
        executions = con.sql(f"SELECT {', '.join(TOOL_STEP_COLUMNS)} FROM {tools} WHERE list_contains($ids, trace_id)",
                             params=traced).to_arrow_table() if tools is not None else None
    routes = dict(zip(labelled.column("trace_id").to_pylist(), labelled.column("route").to_pylist(), strict=True))
    return {trace_id: CalibrationItem(trace_id, routes[trace_id], item)
            for trace_id, item in agent_run_items(labelled.column("trace_id").to_pylist(), calls, executions).items()}


def _sample_row(item: CalibrationItem, stratum: str = "calibration") -> dict:
    return {**dict.fromkeys(JUDGE_SAMPLE.names), "span_id": item.item_id, "route": item.route, "stratum": stratum,
            "inclusion_probability": 1.0, "priority": False}


@dg.multi_asset(
    specs=[
        dg.AssetSpec("judge_calibration", description="The current judge version scored on the labelled items "
                     "(except the golden set's regression split), and its agreement with the reviewers.",
                     group_name="calibration", kinds={"parquet", "openai"},
                     deps=["human_labels", "traces", "sessions", "agent_runs"],
                     metadata={"dagster/column_schema": column_schema("judge_calibration")}),
        dg.AssetSpec("judge_calibration_scores", description="The judge's verdicts on the labelled items (a verdict "
                     "is asked again only when the item, rubric or judge version changes).", group_name="calibration",
                     kinds={"parquet"}, deps=["human_labels", "traces", "sessions", "agent_runs"],
                     metadata={"dagster/column_schema": column_schema("judge_calibration_scores")}),
    ],
    can_subset=False,
    pool="judge_endpoint",
)
def judge_calibration(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                      duckdb: DuckDBResource):
    store = lake.lake
    labels = store.read_partition("human_labels", *SNAPSHOT)
    if labels is None:
        raise dg.Failure("human_labels has not been materialized; materialize it first")
    reserved = regression_spans(latest_version(lake.layout.shared("golden").local()))
    labels = labels.filter(pc.invert(pc.is_in(labels.column("item_id"), pa.array(sorted(reserved), pa.string()))))
    resolved = resolve(labels)
    rubrics, endpoint = judge.rubrics(), judge.endpoint()
    items = seed_items()
    for more in (_span_items, _session_items, _agent_run_items):
        items |= more(lake, duckdb, sorted(set(resolved.column("item_id").to_pylist()) - set(items)))
    labelled = [(items[r["item_id"]], rubrics[r["rubric"]]) for r in resolved.to_pylist()
                if r["label"] is not None and r["item_id"] in items]
    requests = [(_sample_row(item), item.item, [rubric]) for item, rubric in labelled]
    # Position-bias probe: every labelled pair once more with the answers swapped.
    requests += [(_sample_row(item, SWAPPED), item.item.swapped(), [rubric]) for item, rubric in labelled
                 if rubric.kind == "pairwise"]
    settings = judge.settings(rubrics)
    plan = plan_items(requests, settings.redact_pii, endpoint,
                      verdict_cache(store.read_partition("judge_calibration_scores", *SNAPSHOT)))
    outcome = run_judgements(plan, endpoint, budget_gate(settings.budget, 0, 0))
    scores_write = store.write_partition("judge_calibration_scores", *SNAPSHOT, outcome.scores)
    yield dg.MaterializeResult(asset_key=table_key(context, "judge_calibration_scores"), metadata={
        "dagster/row_count": outcome.scores.num_rows, "path": dg.MetadataValue.path(str(scores_write.path))})
    run_time = datetime.now(UTC)
    swapped = pc.equal(outcome.scores.column("stratum"), SWAPPED)
    rows = calibration_rows(resolved, labels, outcome.scores.filter(pc.invert(swapped)), items, run_time,
                            swapped=outcome.scores.filter(swapped))
    write = store.write_partition("judge_calibration", "run", run_time.strftime("%Y-%m-%dT%H%M%S"), rows)
    overall = [r for r in rows.to_pylist() if r["slice"] == "all"]
    context.log.info("judge_calibration: " + "; ".join(
        f"{r['rubric']} n={r['n']} kappa {r['cohen_kappa']:.2f} accuracy {r['accuracy']:.1%}" for r in overall)
        + f" ({len(reserved)} golden regression item(s) left out)")
    metadata = {"dagster/row_count": rows.num_rows, "judged_items": len(plan),
                "reserved_for_regression": len(reserved),
                "cache_hits": outcome.reused,
                "calibration": dg.MetadataValue.md(_calibration_markdown(overall)),
                "path": dg.MetadataValue.path(str(write.path))}
    for row in overall:
        for name in ("n", "accuracy", "cohen_kappa", "macro_f1", "tpr", "tnr", "krippendorff_alpha",
                     "reviewer_alpha", "position_consistency", "first_position_rate"):
            if row[name] is not None:
                metadata[f"{name}_{row['rubric']}"] = row[name]
    yield dg.MaterializeResult(asset_key=table_key(context, "judge_calibration"), metadata=metadata)


def _calibration_markdown(rows: list[dict]) -> str:
    def ci(row: dict, name: str) -> str:
        low, high = row[f"{name}_low"], row[f"{name}_high"]
        return f"{row[name]:.2f} [{low:.2f}, {high:.2f}]" if low is not None else f"{row[name]:.2f}"

    lines = ["| rubric | n | accuracy | Cohen's kappa | macro F1 | TPR | TNR | alpha (ordinal) | length bias rho "
             "| position consistency |", "|---|---:|---|---|---|---|---|---|---|---|"]
    for row in rows:
        alpha = ci(row, "krippendorff_alpha") if row["krippendorff_alpha"] is not None else "–"
        bias = f"{row['length_bias_rho']:.2f} (p={row['length_bias_p']:.3f})" if row["length_bias_rho"] is not None \
            else "–"
        position = f"{row['position_consistency']:.2f} ({row['position_pairs']} pairs)" \
            if row["position_consistency"] is not None else "–"
        lines.append(f"| {row['rubric']} | {row['n']} | {ci(row, 'accuracy')} | {ci(row, 'cohen_kappa')} | "
                     f"{ci(row, 'macro_f1')} | {ci(row, 'tpr')} | {ci(row, 'tnr')} | {alpha} | {bias} | {position} |")
    return "\n".join(lines)


def canary_items(lake: LakeResource) -> list[tuple[str, CalibrationItem]]:
    """(rubric, item) for the packaged canary set and any ``*.jsonl`` in <home>/canary."""
    own = lake.layout.shared("canary").local()
    files = [packaged_default("calibration") / "canary.jsonl", *sorted(own.glob("*.jsonl"))]
    return [(record["rubric"], item_from_record(record)) for path in files for record in read_items(path)]


@dg.multi_asset(
    specs=[
        dg.AssetSpec("judge_canary", description="The canary items re-judged each day, compared with the first day "
                     "of the same judge version.", group_name="calibration", kinds={"parquet", "openai"},
                     partitions_def=daily_partitions,
                     metadata={"dagster/column_schema": column_schema("judge_canary")}),
        dg.AssetSpec("canary_scores", description="The day's canary flip rate and score shift, as SLI rows the daily "
                     "alert rules read.", group_name="calibration", kinds={"parquet"}, partitions_def=daily_partitions,
                     metadata={"dagster/column_schema": column_schema("canary_scores")}),
    ],
    check_specs=[dg.AssetCheckSpec("judge_canary_unchanged", asset="judge_canary",
                                   description="The judge answers the canary items as it did on its baseline "
                                               "day: no significant flips or score shift under the same version.")],
    can_subset=False,
    pool="judge_endpoint",
)
def judge_canary(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                 duckdb: DuckDBResource):
    day = context.partition_key
    rubrics, endpoint = judge.rubrics(), judge.endpoint()
    settings = judge.settings(rubrics)
    requests = [(_sample_row(item), item.item, [rubrics[rubric]]) for rubric, item in canary_items(lake)]
    plan = plan_items(requests, settings.redact_pii, endpoint, cache={})  # re-asked every day, on purpose
    outcome = run_judgements(plan, endpoint, budget_gate(settings.budget, 0, 0))
    today = outcome.scores.rename_columns(["item_id" if n == "span_id" else n for n in outcome.scores.column_names])
    verdicts = today.select(JUDGE_CANARY.names).cast(JUDGE_CANARY)
    store = lake.lake
    baseline = _canary_baseline(store, duckdb, day)
    write = store.write_partition("judge_canary", "day", day, verdicts)
    pairs = [(baseline[(r["item_id"], r["rubric"], r["judge_version"])], r) for r in verdicts.to_pylist()
             if r["status"] == "ok" and (r["item_id"], r["rubric"], r["judge_version"]) in baseline]
    comparison = compare_canary([b["label"] for b, _ in pairs], [t["label"] for _, t in pairs],
                                [b["score"] for b, _ in pairs], [t["score"] for _, t in pairs])
    description = (f"{comparison.flips}/{comparison.items} canary verdicts flipped (p={comparison.flip_p_value:.2g}), "
                   f"mean score shift {comparison.mean_score_shift:+.2f} (p={comparison.shift_p_value:.2g}) "
                   f"under unchanged judge versions")
    scores = canary_rows(day_start(date.fromisoformat(day)), comparison)
    scores_write = store.write_partition("canary_scores", "day", day, scores)
    if comparison.changed:
        context.log.error(f"JUDGE CHANGED UNDER YOU: {description}. The endpoint answers differently while the "
                          f"declared version ({endpoint.model_version}) is the same: re-calibrate before trusting it.")
    else:
        context.log.info(f"judge_canary {day}: {description}")
    yield dg.MaterializeResult(asset_key=table_key(context, "canary_scores"), metadata={
        "dagster/row_count": scores.num_rows, "path": dg.MetadataValue.path(str(scores_write.path))})
    yield dg.MaterializeResult(
        asset_key=table_key(context, "judge_canary"),
        metadata={"dagster/row_count": verdicts.num_rows, "compared": comparison.items, "flips": comparison.flips,
                  "flip_rate": comparison.flip_rate, "mean_score_shift": comparison.mean_score_shift,
                  "flip_p_value": comparison.flip_p_value, "shift_p_value": comparison.shift_p_value,
                  "path": dg.MetadataValue.path(str(write.path))},
        check_results=[dg.AssetCheckResult(
            check_name="judge_canary_unchanged", passed=not comparison.changed,
            severity=dg.AssetCheckSeverity.ERROR, description=description,
            metadata={"flips": comparison.flips, "compared": comparison.items,
                      "judge_model_version": endpoint.model_version})],
    )


def _canary_baseline(store: Lake, duckdb: DuckDBResource, day: str) -> dict[tuple[str, str, str], dict]:
    """Each item's verdict on the earliest earlier day judged by the same judge version."""
    canary = store.scan_existing("judge_canary")
    if canary is None:
        return {}
    with duckdb.get_connection() as con:
        rows = con.sql(f"""
            SELECT * EXCLUDE (rank) FROM (
                SELECT *, row_number() OVER (PARTITION BY item_id, rubric, judge_version ORDER BY day) AS rank
                FROM {canary} WHERE status = 'ok' AND day < $day)
            WHERE rank = 1""", params={"day": day}).to_arrow_table().to_pylist()
    return {(r["item_id"], r["rubric"], r["judge_version"]): r for r in rows}
