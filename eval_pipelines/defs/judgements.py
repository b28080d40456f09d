"""Judging a plan of judgements for one hour, shared by the stages that judge (calls, sessions and agent runs): the
day's budget across all of them, the verdicts written with their metadata, and the checks every judged table has."""

from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.report import corrected_rates, latest_calibration
from eval_pipelines.calibration.statistics import CorrectedRate
from eval_pipelines.defs.checks import merge_hours
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import JudgeResource, LakeResource
from eval_pipelines.judge.client import Endpoint
from eval_pipelines.judge.run import Judgement, budget_gate, run_judgements
from eval_pipelines.judge.settings import BudgetSettings
from eval_pipelines.judge.summary import day_spend, latency_quantiles, run_usage, status_counts, weighted_pass_rates

JUDGE_POOL = "judge_endpoint"
ERROR_STATUSES = ("invalid", "refused", "unparseable", "error", "circuit_open")
# The tables of judge verdicts: one daily budget covers them all.
JUDGED_TABLES = ("judge_scores", "conversation_judge_scores")


JudgeHour = Callable[[dg.AssetExecutionContext, LakeResource, JudgeResource, DuckDBResource, str],
                     list[dg.AssetCheckResult]]


def judged_hourly_asset(table: str, description: str, group_name: str,
                        deps: list[str]) -> Callable[[JudgeHour], dg.AssetsDefinition]:
    """Makes the decorated function, which judges one hour and returns its check results, the hourly asset ``table``
    of judge verdicts: in the judge's pool, with the checks every judged table has, one hour after another."""
    def asset_of(judge_hour: JudgeHour) -> dg.AssetsDefinition:
        @dg.asset(name=table, description=description, group_name=group_name, kinds={"parquet", "openai"},
                  partitions_def=hourly_partitions, deps=deps, pool=JUDGE_POOL,
                  metadata={"dagster/column_schema": column_schema(table)},
                  check_specs=_judgement_check_specs(table), backfill_policy=HOURLY_BACKFILL_POLICY)
        def judged(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                   duckdb: DuckDBResource) -> dg.MaterializeResult:
            checks = {key: judge_hour(context, lake, judge, duckdb, key) for key in context.partition_keys}
            return dg.MaterializeResult(check_results=merge_hours(checks))
        return judged
    return asset_of


def _judgement_check_specs(table: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(f"{table}_error_rate", asset=table,
                          description="At most 5% of the judgements end without a valid verdict."),
        dg.AssetCheckSpec(f"{table}_within_budget", asset=table,
                          description="No part of the sample was skipped because a budget ran out."),
    ]


def record_judgements(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource, key: str,
                      table: str, plan: list[Judgement], endpoint: Endpoint,
                      budget: BudgetSettings) -> list[dg.AssetCheckResult]:
    """Sends what ``plan`` has not cached within the budget, writes the hour's partition of ``table`` with its
    metadata, and returns the hour's check results."""
    store = lake.lake
    with duckdb.get_connection() as con:
        spent_calls, spent_tokens = day_spend(con, [store.scan_existing(name) for name in JUDGED_TABLES],
                                              datetime.now(UTC).date())
        gate = budget_gate(budget, spent_calls, spent_tokens)
        to_send = len({judgement.cache_key for judgement in plan if judgement.cached is None})
        context.log.info(f"{table} {key}: {len(plan)} judgements, {len(plan) - to_send} cached, {to_send} to "
                         f"send to {endpoint.model_version}; today's spend so far {spent_calls} calls")
        outcome = run_judgements(plan, endpoint, gate, _progress_logger(context, table, key))
        scores = outcome.scores
        rates = weighted_pass_rates(con, scores)
        p50, p95 = latency_quantiles(con, scores)
        usage = run_usage(con, scores, outcome.sent, endpoint.model_version)
        calibration = latest_calibration(con, store.scan_existing("judge_calibration"), outcome.judge_versions)
    corrected = corrected_rates(rates, calibration)
    write = store.write_partition(table, "hour", key, scores)
    counts = status_counts(scores)
    failed = sum(counts[status] for status in ERROR_STATUSES)
    context.log.info(f"{table} {key}: " + ", ".join(f"{s} {n}" for s, n in counts.items() if n)
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
        dg.AssetCheckResult(check_name=f"{table}_error_rate",
                            passed=failed <= 0.05 * max(1, scores.num_rows - counts["skipped_budget"]),
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"without_verdict": failed, **{s: counts[s] for s in ERROR_STATUSES}}),
        dg.AssetCheckResult(check_name=f"{table}_within_budget", passed=counts["skipped_budget"] == 0,
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


def _progress_logger(context: dg.AssetExecutionContext, table: str, key: str):
    def log(done: int, total: int) -> None:
        if done == total or done % max(1, total // 5) == 0:
            context.log.info(f"{table} {key}: {done}/{total} judgements returned")
    return log
