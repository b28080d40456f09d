"""Stage ``judging``: a stratified sample of each hour's traffic, judged by an LLM against rubrics."""


import time
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.report import corrected_rates, latest_calibration
from eval_pipelines.calibration.statistics import CorrectedRate
from eval_pipelines.defs.checks import merge_hours
from eval_pipelines.defs.metadata import column_schema, hourly_table_spec
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import JudgeResource, LakeResource
from eval_pipelines.judge.run import CONTENT_COLUMNS, budget_gate, plan_judgements, run_judgements
from eval_pipelines.judge.sampling import REQUEST_COLUMNS, draw_sample, hard_cases
from eval_pipelines.judge.summary import (
    day_spend,
    latency_quantiles,
    run_usage,
    sample_strata,
    status_counts,
    strata_markdown,
    weighted_pass_rates,
)

JUDGE_POOL = "judge_endpoint"
ERROR_STATUSES = ("invalid", "refused", "unparseable", "error", "circuit_open")


judge_sample_spec = hourly_table_spec(
    "judge_sample", "The hour's requests to judge: stratified, hard cases first, with inclusion probabilities.",
    "judging", kinds={"parquet", "duckdb"}, deps=["traces", "programmatic_scores", "user_feedback"])
sampling_rates_spec = hourly_table_spec(
    "judge_sampling_rates", "Each stratum's sampling rate in the hour, decided when the stratum is first seen.",
    "judging", deps=["traces"])


@dg.multi_asset(specs=[judge_sample_spec, sampling_rates_spec], can_subset=False,
                backfill_policy=HOURLY_BACKFILL_POLICY)
def judge_sample(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                 duckdb: DuckDBResource):
    """Samples each hour's answered requests at the rates its strata were given (new strata get theirs now)."""
    for key in context.partition_keys:
        _sample_hour(context, lake, judge, duckdb, key)
    yield dg.MaterializeResult(asset_key=table_key(context, "judge_sample"))
    yield dg.MaterializeResult(asset_key=table_key(context, "judge_sampling_rates"))


def _sample_hour(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                 duckdb: DuckDBResource, key: str) -> None:
    store = lake.lake
    requests = lake.required_partition("traces", key, REQUEST_COLUMNS)
    sampling = judge.settings(judge.rubrics()).sampling
    hour_start = hourly_partitions.time_window_for_partition_key(key).start
    with duckdb.get_connection() as con:
        hard = hard_cases(con, store.read_partitions("programmatic_scores", "hour", [key], ["span_id", "evaluator",
                                                                                             "passed"]),
                          store.read_partitions("user_feedback", "hour", [key], ["span_id", "kind", "label"]),
                          sampling.priority)
        drawn = draw_sample(con, requests, hard, sampling, int(hour_start.timestamp() * 1_000_000),
                            store.read_partition("judge_sampling_rates", "hour", key), time.time_ns() // 1000)
    sample = drawn.sample
    write = store.write_partition("judge_sample", "hour", key, sample)
    rates_write = store.write_partition("judge_sampling_rates", "hour", key, drawn.rates)
    priority = sum(sample.column("priority").to_pylist())
    strata = sample_strata(sample)
    population = sum(stratum.size for stratum in strata)
    context.log.info(f"judge_sample {key}: {sample.num_rows} of {population} answered requests "
                     f"({priority} hard cases) from {len(strata)} strata; {drawn.new_strata} new strata rated")
    context.add_asset_metadata({
        "dagster/row_count": sample.num_rows,
        "population": population,
        "hard_cases": priority,
        "strata": len(strata),
        "sampled_share": sample.num_rows / population if population else 0.0,
        "strata_table": dg.MetadataValue.md(strata_markdown(strata)),
        "path": dg.MetadataValue.path(str(write.path)),
    }, asset_key=table_key(context, "judge_sample"), partition_key=key)
    context.add_asset_metadata({
        "dagster/row_count": drawn.rates.num_rows,
        "strata_rated_now": drawn.new_strata,
        "path": dg.MetadataValue.path(str(rates_write.path)),
    }, asset_key=table_key(context, "judge_sampling_rates"), partition_key=key)


@dg.asset(
    description="Judge verdicts on the hour's sample: one row per request and rubric, with judge version and status.",
    group_name="judging",
    kinds={"parquet", "openai"},
    partitions_def=hourly_partitions,
    deps=["judge_sample", "traces"],
    pool=JUDGE_POOL,
    metadata={"dagster/column_schema": column_schema("judge_scores")},
    check_specs=[
        dg.AssetCheckSpec("judge_scores_error_rate", asset="judge_scores",
                          description="At most 5% of the judgements end without a valid verdict."),
        dg.AssetCheckSpec("judge_scores_within_budget", asset="judge_scores",
                          description="No part of the sample was skipped because a budget ran out."),
    ],
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def judge_scores(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                 duckdb: DuckDBResource) -> dg.MaterializeResult:
    checks = {key: _judge_hour(context, lake, judge, duckdb, key) for key in context.partition_keys}
    return dg.MaterializeResult(check_results=merge_hours(checks))


def _judge_hour(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                duckdb: DuckDBResource, key: str) -> list[dg.AssetCheckResult]:
    """Judges the hour's sample, writes its partition and metadata; the hour's check results."""
    store = lake.lake
    sample = lake.required_partition("judge_sample", key)
    rubrics = judge.rubrics()
    settings = judge.settings(rubrics)
    endpoint = judge.endpoint()
    content = store.read_partitions("traces", "hour", [key], CONTENT_COLUMNS)
    plan = plan_judgements(sample, content, rubrics, settings, endpoint,
                           store.read_partition("judge_scores", "hour", key))
    with duckdb.get_connection() as con:
        spent_calls, spent_tokens = day_spend(con, store.scan_existing("judge_scores"), datetime.now(UTC).date())
        gate = budget_gate(settings.budget, spent_calls, spent_tokens)
        to_send = len({judgement.cache_key for judgement in plan if judgement.cached is None})
        context.log.info(f"judge_scores {key}: {len(plan)} judgements, {len(plan) - to_send} cached, {to_send} to "
                         f"send to {endpoint.model_version}; today's spend so far {spent_calls} calls")
        outcome = run_judgements(plan, endpoint, gate, _progress_logger(context, key))
        scores = outcome.scores
        rates = weighted_pass_rates(con, scores)
        p50, p95 = latency_quantiles(con, scores)
        usage = run_usage(con, scores, outcome.sent, endpoint.model_version)
        calibration = latest_calibration(con, store.scan_existing("judge_calibration"), outcome.judge_versions)
    corrected = corrected_rates(rates, calibration)
    write = store.write_partition("judge_scores", "hour", key, scores)
    counts = status_counts(scores)
    failed = sum(counts[status] for status in ERROR_STATUSES)
    context.log.info(f"judge_scores {key}: " + ", ".join(f"{s} {n}" for s, n in counts.items() if n)
                     + "; " + ", ".join(f"{r.rubric} pass {r.weighted:.1%} (weighted)" for r in rates))
    context.add_asset_metadata(partition_key=key, metadata={
        "dagster/row_count": scores.num_rows,
        "cache_hits": usage.cache_hits,
        **{f"status_{status}": n for status, n in counts.items()},
        **{f"pass_rate_{r.rubric}": r.weighted for r in rates},
        **{f"pass_rate_{r.rubric}_unweighted": r.raw for r in rates},
        **_corrected_metadata(corrected),
        **{f"judge_version_{name}": version for name, version in sorted(outcome.judge_versions.items())},
        "calls_sent": outcome.stats.attempts,
        "retries": outcome.stats.retries,
        **{f"http_{status}": count for status, count in sorted(outcome.stats.http_statuses.items())},
        "circuit_opened": outcome.stats.circuit_opened,
        "tokens": usage.tokens,
        "cost_usd": usage.cost_usd,
        "latency_p50_ms": p50 or 0.0,
        "latency_p95_ms": p95 or 0.0,
        "injection_flagged": usage.injection_flagged,
        "judge_model_mismatches": usage.model_mismatches,
        "path": dg.MetadataValue.path(str(write.path)),
    })
    return [
        dg.AssetCheckResult(check_name="judge_scores_error_rate",
                            passed=failed <= 0.05 * max(1, scores.num_rows - counts["skipped_budget"]),
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"without_verdict": failed, **{s: counts[s] for s in ERROR_STATUSES}}),
        dg.AssetCheckResult(check_name="judge_scores_within_budget", passed=counts["skipped_budget"] == 0,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"skipped_budget": counts["skipped_budget"],
                                      "spent_today_before_run": spent_calls}),
    ]


def _corrected_metadata(corrected: dict[str, CorrectedRate]) -> dict[str, float | str]:
    """Judge-error-corrected rates (Rogan-Gladen) where the calibration allows; otherwise the reason."""
    metadata: dict[str, float | str] = {}
    for rubric, rate in sorted(corrected.items()):
        if rate.corrected is None:
            metadata[f"correction_{rubric}"] = rate.reason or "unavailable"
            continue
        metadata[f"pass_rate_{rubric}_corrected"] = rate.corrected
        metadata[f"pass_rate_{rubric}_corrected_low"], metadata[f"pass_rate_{rubric}_corrected_high"] = rate.interval
    return metadata


def _progress_logger(context: dg.AssetExecutionContext, key: str):
    def log(done: int, total: int) -> None:
        if done == total or done % max(1, total // 5) == 0:
            context.log.info(f"judge_scores {key}: {done}/{total} judgements returned")
    return log
