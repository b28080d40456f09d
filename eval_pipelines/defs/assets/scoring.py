"""Stage ``scoring``: programmatic evaluators on every request of the hour."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import hourly_partitions
from eval_pipelines.defs.resources import LakeResource, ScoringConfigResource
from eval_pipelines.evaluators import ScoringStats, score_requests
from eval_pipelines.evaluators.summary import (
    pass_rates,
    wide_scores,
    worst_examples_markdown,
    write_text_evals_report,
)
from eval_pipelines.schemas import PROGRAMMATIC_SCORES


@dg.asset(
    description="Every configured evaluator on every request of the hour: one row per request and evaluator.",
    group_name="scoring",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces"],
    metadata={"dagster/column_schema": column_schema(PROGRAMMATIC_SCORES)},
)
def programmatic_scores(context: dg.AssetExecutionContext, lake: LakeResource, scoring: ScoringConfigResource,
                        duckdb: DuckDBResource) -> dg.MaterializeResult:
    key = context.partition_key
    traces = lake.lake.read_partition("traces", "hour", key)
    if traces is None:
        raise dg.Failure(f"traces partition {key} has not been materialized; materialize traces first")
    config = scoring.evaluator_config()
    stats = ScoringStats()
    with duckdb.get_connection() as con:
        scores = score_requests(traces, config, con, stats)
        write = lake.lake.write_partition("programmatic_scores", "hour", key, scores)
        worst = worst_examples_markdown(scores, traces, con)
        wide = wide_scores(scores, con) if scoring.text_evals_report and scores.num_rows else None
    rates = pass_rates(scores)
    context.log.info(f"programmatic_scores {key}: {scores.num_rows} scores for {traces.num_rows} requests; "
                     + ", ".join(f"{r.evaluator} {r.rate:.1%}" for r in rates))
    metadata = {
        "dagster/row_count": scores.num_rows,
        "requests": traces.num_rows,
        **{f"pass_rate_{r.evaluator}": r.rate for r in rates},
        **{f"failures_{r.evaluator}": r.total - r.passed for r in rates},
        "seconds_scoring": round(sum(stats.seconds_by_evaluator.values()), 3),
        "worst_examples": dg.MetadataValue.md(worst),
        "path": dg.MetadataValue.path(str(write.path)),
    }
    if wide is not None:
        report = write_text_evals_report(
            wide, lake.layout.reports / "scoring" / "text_evals" / f"{key.replace(':', '')}.html")
        metadata["text_evals_report"] = dg.MetadataValue.url(report.as_uri())
    return dg.MaterializeResult(metadata=metadata)
