"""Stage ``offline``: candidates scored on the golden set by the production evaluators and judge, teams'
own offline results, and each version's offline scores next to its online scores of the day."""


from datetime import date

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.checks import rule_check_specs, rule_checks
from eval_pipelines.defs.judgements import JUDGED_TABLES
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import SNAPSHOT, daily_partitions, day_start
from eval_pipelines.defs.resources import (
    JudgeResource,
    LakeResource,
    MonitoringConfigResource,
    ScoringConfigResource,
)
from eval_pipelines.evaluators.engine import score_requests
from eval_pipelines.judge.run import budget_gate, plan_items, run_judgements, verdict_cache
from eval_pipelines.markdown import markdown_cell
from eval_pipelines.offline.divergence import compare, divergence_slis, offline_rates, online_rates, shortfall
from eval_pipelines.offline.evaluation import (
    judge_sample_row,
    offline_judge_items,
    offline_requests,
    offline_rows,
    reported_rows,
)
from eval_pipelines.offline.files import read_offline_files
from eval_pipelines.review.golden import latest_version
from eval_pipelines.schemas import (
    OFFLINE_QUARANTINE,
)

offline_scores_spec = dg.AssetSpec(
    "offline_scores", description="Candidates' outputs for the golden set's regression split scored by the "
    "production evaluators and judge (same versions), plus teams' own results from <home>/offline/results.",
    group_name="offline", kinds={"parquet", "openai"}, deps=["golden_set"],
    metadata={"dagster/column_schema": column_schema("offline_scores")})
offline_quarantine_spec = dg.AssetSpec(
    "offline_quarantine", description="Offline lines that could not be used, with the reason.",
    group_name="offline", kinds={"parquet"}, metadata={"dagster/column_schema": column_schema("offline_quarantine")})


def _unusable(output: dict, regression: dict[str, dict], held_out: set[str], version: int) -> str | None:
    if output["item_id"] in regression:
        return None
    if output["item_id"] in held_out:
        return f"{output['item_id']} is held out for judge calibration in golden set v{version}"
    return f"{output['item_id']} is not in golden set v{version}"


offline_judge_scores_spec = dg.AssetSpec(
    "offline_judge_scores", description="The judge's verdicts on the candidates' outputs (asked again only when the "
    "output, rubric or judge version changes).", group_name="offline", kinds={"parquet"},
    deps=["golden_set"], metadata={"dagster/column_schema": column_schema("offline_judge_scores")})


@dg.multi_asset(specs=[offline_scores_spec, offline_quarantine_spec, offline_judge_scores_spec], can_subset=False,
                pool="judge_endpoint")
def offline_evaluation(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                       judge: JudgeResource, scoring: ScoringConfigResource):
    """Scores every candidate output in <home>/offline/outputs on the current golden set."""
    home, store = lake.layout, lake.lake
    golden = latest_version(home.shared("golden").local())
    if golden is None:
        raise dg.Failure("no golden set yet: materialize golden_set first")
    files = read_offline_files(home.shared("offline").local())
    regression = {item["id"]: item for item in golden.regression}
    held_out = {item["id"] for item in golden.items} - set(regression)
    outputs, quarantine = [], list(files.quarantine)
    for output in files.outputs:
        reason = _unusable(output, regression, held_out, golden.version)
        if reason:
            quarantine.append({"source_file": output["source_file"], "source_line": output["source_line"],
                               "reason": reason, "raw": output["output_text"][:200]})
        else:
            outputs.append(output)
    requests = offline_requests(outputs, regression)
    with duckdb.get_connection() as con:
        programmatic = score_requests(requests, scoring.evaluator_config(), con)
    rubrics, endpoint = judge.rubrics(), judge.endpoint()
    settings = judge.settings(rubrics)
    routes = {output["item_id"]: regression[output["item_id"]]["tags"]["route"] for output in outputs}
    asks = [(judge_sample_row(output, routes[output["item_id"]]), item,
             [rubrics[name] for name in settings.rubrics_for_route(routes[output["item_id"]])])
            for output, row in zip(outputs, requests.to_pylist(), strict=True)
            for item in offline_judge_items(regression[output["item_id"]], output, row)]
    plan = plan_items(asks, settings.redact_pii, endpoint,
                      verdict_cache(store.read_partition("offline_judge_scores", *SNAPSHOT)))
    outcome = run_judgements(plan, endpoint, budget_gate(settings.budget, 0, 0))
    verdicts_write = store.write_partition("offline_judge_scores", *SNAPSHOT, outcome.scores)
    yield dg.MaterializeResult(asset_key=table_key(context, "offline_judge_scores"), metadata={
        "dagster/row_count": outcome.scores.num_rows, "path": dg.MetadataValue.path(str(verdicts_write.path))})
    source = f"golden_v{golden.version}"
    scores = pa.concat_tables([offline_rows(source, outputs, programmatic, outcome.scores),
                               reported_rows(files.results)])
    write = store.write_partition("offline_scores", *SNAPSHOT, scores)
    store.write_partition("offline_quarantine", *SNAPSHOT, pa.Table.from_pylist(quarantine, schema=OFFLINE_QUARANTINE))
    rates = offline_rates(scores.to_pylist())
    candidates = sorted({(o["model"], o["prompt_version"]) for o in outputs})
    context.log.info(f"offline_scores: {len(outputs)} output(s) of {len(candidates)} candidate(s) on golden set "
                     f"v{golden.version} ({len(regression)} regression items), {len(files.results)} reported "
                     f"result(s); {len(quarantine)} line(s) quarantined")
    yield dg.MaterializeResult(asset_key=table_key(context, "offline_scores"), metadata={
        "dagster/row_count": scores.num_rows, "golden_version": golden.version, "candidates": len(candidates),
        "outputs": len(outputs), "reported_results": len(files.results), "judged": len(plan),
        "coverage": len(outputs) / (len(regression) * len(candidates)) if candidates and regression else 0.0,
        "rates": dg.MetadataValue.md(_rates_markdown(rates)), "path": dg.MetadataValue.path(str(write.path))})
    yield dg.MaterializeResult(asset_key=table_key(context, "offline_quarantine"),
                               metadata={"dagster/row_count": len(quarantine)})


def _rates_markdown(rates: list[dict]) -> str:
    lines = ["| source | model | prompt version | metric | pass rate | n |", "|---|---|---|---|---:|---:|"]
    lines += [f"| {markdown_cell(r['source'])} | {markdown_cell(r['model'])} | {markdown_cell(r['prompt_version'])} | "
              f"{markdown_cell(r['metric'])} | {r['rate']:.1%} | {r['n']:.0f} |" for r in rates[:200]]
    return "\n".join(lines)


_DIVERGENCE_INPUTS = ["offline_scores", "programmatic_scores", *JUDGED_TABLES]


@dg.multi_asset(
    specs=[
        dg.AssetSpec("online_offline_divergence", description="Per model × prompt version and metric: the day's "
                     "online pass rate next to the offline one, their gap with a 95% interval (Newcombe), and the "
                     "shortfall the alert rules watch.", group_name="offline", kinds={"parquet", "duckdb"},
                     partitions_def=daily_partitions, deps=_DIVERGENCE_INPUTS,
                     metadata={"dagster/column_schema": column_schema("online_offline_divergence")}),
        dg.AssetSpec("divergence_scores", description="The day's largest shortfalls, as SLI rows the daily alert "
                     "rules read.", group_name="offline", kinds={"parquet"}, partitions_def=daily_partitions,
                     deps=_DIVERGENCE_INPUTS, metadata={"dagster/column_schema": column_schema("divergence_scores")}),
    ],
    check_specs=rule_check_specs("online_offline_divergence", "divergence_scores"),
    can_subset=False,
)
def online_offline_divergence(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource,
                              monitoring: MonitoringConfigResource):
    day = date.fromisoformat(context.partition_key)
    store = lake.lake
    offline = store.read_partition("offline_scores", *SNAPSHOT)
    if offline is None:
        raise dg.Failure("offline_scores has not been materialized; materialize it first")
    with duckdb.get_connection() as con:
        online = online_rates(con, store.scan_existing("programmatic_scores"),
                              [store.scan_existing(table) for table in JUDGED_TABLES], day)
    divergence = compare(day, online, offline_rates(offline.to_pylist()))
    write = store.write_partition("online_offline_divergence", "day", day.isoformat(), divergence)
    scores = divergence_slis(day_start(day), divergence)
    scores_write = store.write_partition("divergence_scores", "day", day.isoformat(), scores)
    rows = sorted(divergence.to_pylist(), key=shortfall, reverse=True)
    worst = rows[0] if rows else None
    context.log.info(f"online_offline_divergence {day}: {len(rows)} comparison(s)" + (
        f"; largest shortfall {shortfall(worst):.1%}: {worst['metric']} on {worst['prompt_version']} / "
        f"{worst['model']} (online {worst['online_rate']:.1%}, offline {worst['offline_rate']:.1%} from "
        f"{worst['offline_source']})" if worst else ""))
    yield dg.MaterializeResult(asset_key=table_key(context, "divergence_scores"), metadata={
        "dagster/row_count": scores.num_rows, "path": dg.MetadataValue.path(str(scores_write.path))})
    yield dg.MaterializeResult(
        asset_key=table_key(context, "online_offline_divergence"),
        metadata={"dagster/row_count": divergence.num_rows, "max_shortfall": shortfall(worst) if worst else 0.0,
                  "diverging": sum(shortfall(r) > 0 for r in rows),
                  "gaps": dg.MetadataValue.md(_gaps_markdown(rows)), "path": dg.MetadataValue.path(str(write.path))},
        check_results=rule_checks(context, store, monitoring, "divergence_scores", [day.isoformat()])[day.isoformat()])


def _gaps_markdown(rows: list[dict]) -> str:
    if not rows:
        return "No version was scored both offline and online this day."
    lines = ["| metric | prompt version | model | offline source | online | offline | gap [95%] |",
             "|---|---|---|---|---:|---:|---|"]
    lines += [f"| {markdown_cell(r['metric'])} | {markdown_cell(r['prompt_version'])} | {markdown_cell(r['model'])} | "
              f"{markdown_cell(r['offline_source'])} | {r['online_rate']:.1%} (n={r['online_n']}) | "
              f"{r['offline_rate']:.1%} (n={r['offline_n']}) | {r['gap']:+.1%} [{r['gap_low']:+.1%}, "
              f"{r['gap_high']:+.1%}] |" for r in rows[:100]]
    return "\n".join(lines)
