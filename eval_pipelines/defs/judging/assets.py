"""Stage ``judging``: a stratified sample of each hour's traffic, judged by an LLM against rubrics."""


import time

import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.judgements import judged_hourly_asset, record_judgements
from eval_pipelines.defs.metadata import hourly_table_spec
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import JudgeResource, LakeResource
from eval_pipelines.judge.run import CONTENT_COLUMNS, plan_judgements
from eval_pipelines.judge.sampling import REQUEST_COLUMNS, draw_sample, hard_cases
from eval_pipelines.judge.summary import sample_strata, strata_markdown

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


@judged_hourly_asset("judge_scores", "Judge verdicts on the hour's sample: one row per request and rubric, with "
                     "judge version and status.", "judging", deps=["judge_sample", "traces"])
def judge_scores(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
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
    return record_judgements(context, lake, duckdb, key, "judge_scores", plan, endpoint, settings.budget)
