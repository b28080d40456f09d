"""What an hour of judge results says: weighted pass rates, statuses, spend and latency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from eval_pipelines.markdown import markdown_cell


@dataclass(frozen=True)
class Stratum:
    name: str
    size: int
    sampled: int


def sample_strata(sample: pa.Table) -> list[Stratum]:
    """The strata of an hour's sample, largest first."""
    grouped = sample.group_by(["stratum", "stratum_size", "stratum_sampled"]).aggregate([]).to_pylist()
    return sorted((Stratum(g["stratum"], g["stratum_size"], g["stratum_sampled"]) for g in grouped),
                  key=lambda stratum: (-stratum.size, stratum.name))


def strata_markdown(strata: list[Stratum]) -> str:
    lines = ["| stratum | requests | sampled | inclusion probability |", "|---|---:|---:|---:|"]
    lines += [f"| {markdown_cell(s.name, 200)} | {s.size} | {s.sampled} | {s.sampled / s.size:.3f} |" for s in strata]
    return "\n".join(lines)


STATUSES = ("ok", "invalid", "refused", "unparseable", "error", "circuit_open", "skipped_budget")


@dataclass(frozen=True)
class WeightedRate:
    rubric: str
    judged: int
    raw: float
    weighted: float
    effective_n: float  # Kish: (sum w)^2 / sum w^2, the sample size the weighted rate is worth


# SQL aggregates over judged rows: the Hajek estimate that weights the sample back to the traffic, and
# Kish's effective sample size of those weights.
WEIGHTED_PASS_RATE_SQL = "sum(passed::DOUBLE / inclusion_probability) / sum(1 / inclusion_probability)"
EFFECTIVE_N_SQL = "sum(1 / inclusion_probability) ^ 2 / sum(1 / inclusion_probability ^ 2)"


def weighted_pass_rates(con: duckdb.DuckDBPyConnection, scores: pa.Table) -> list[WeightedRate]:
    """Per rubric over rows with a verdict: the raw share that passed and the Hajek estimate
    ``sum(passed / p) / sum(1 / p)``, which weights the sample back to the hour's traffic."""
    con.register("_judged", scores)
    rows = con.sql(f"""
        SELECT rubric, count(*), avg(passed::DOUBLE), {WEIGHTED_PASS_RATE_SQL}, {EFFECTIVE_N_SQL}
        FROM _judged WHERE status = 'ok' AND inclusion_probability > 0 GROUP BY rubric ORDER BY rubric""").fetchall()
    return [WeightedRate(*row) for row in rows]


def status_counts(scores: pa.Table) -> dict[str, int]:
    grouped = dict(zip(*scores.group_by("status").aggregate([("status", "count")]).to_pydict().values(),
                       strict=True)) if scores.num_rows else {}
    return {status: grouped.get(status, 0) for status in STATUSES}


def latency_quantiles(con: duckdb.DuckDBPyConnection, scores: pa.Table) -> tuple[float | None, float | None]:
    con.register("_latency", scores)
    return con.sql("SELECT quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95) FROM _latency "
                   "WHERE NOT cached AND latency_ms IS NOT NULL").fetchall()[0]


def day_spend(con: duckdb.DuckDBPyConnection, sources: list[str | None], day: date) -> tuple[int, int]:
    """Calls and tokens already spent on ``day`` (UTC) according to the stored judge results (the tables of judge
    scores named by ``sources``; ``None`` for one not written yet).

    Each verdict counts once (by cache key) with the day it was obtained, whichever partition holds it.
    """
    scans = [f"SELECT cache_key, input_tokens, output_tokens, judged_at, status FROM {source}"
             for source in sources if source is not None]
    if not scans:
        return 0, 0
    calls, tokens = con.sql(f"""
        SELECT count(*), coalesce(sum(tokens), 0) FROM (
            SELECT cache_key, any_value(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) AS tokens
            FROM ({" UNION ALL ".join(scans)})
            WHERE judged_at >= $start AND judged_at < $start + INTERVAL 1 DAY
              AND status NOT IN ('skipped_budget', 'circuit_open')
            GROUP BY cache_key)""", params={"start": datetime(day.year, day.month, day.day, tzinfo=UTC)}).fetchall()[0]
    return int(calls), int(tokens)


@dataclass(frozen=True)
class RunUsage:
    cache_hits: int
    tokens: int
    cost_usd: float
    injection_flagged: int
    model_mismatches: int


def run_usage(con: duckdb.DuckDBPyConnection, scores: pa.Table, sent: list[bool], model_version: str) -> RunUsage:
    """What this materialization sent (rows reused from before excluded; ``sent`` says which rows were judged by
    its calls) and what the replies said about the model."""
    con.register("_usage", scores.append_column("_sent", pa.array(sent, pa.bool_())))
    hits, tokens, cost, flagged, mismatches = con.sql("""
        SELECT count(*) FILTER (NOT _sent),
               coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) FILTER (_sent), 0),
               coalesce(sum(cost_usd) FILTER (_sent), 0),
               count(*) FILTER (len(injection_markers) > 0),
               count(*) FILTER (_sent AND judge_response_model IS DISTINCT FROM $version
                                AND judge_response_model IS NOT NULL)
        FROM _usage""", params={"version": model_version}).fetchall()[0]
    return RunUsage(hits, int(tokens), float(cost), flagged, mismatches)
