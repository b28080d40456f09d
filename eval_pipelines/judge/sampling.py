"""The hour's judge sample: stratified Poisson sampling with hard cases first and exact inclusion odds,
built up as the hour's traffic arrives in pieces.

Design (documented in docs/evaluate.md, "Sample and the estimator"):

* The population is the hour's requests that produced an answer (text or tool calls); errors and
  empty answers are already scored by the programmatic evaluators.
* Every request falls in a stratum given by the configured slice columns; hard cases (a failed
  programmatic check from a configured list, a thumbs-down) form strata of their own.
* Each stratum of an hour has a sampling rate, decided the first time the stratum is seen in that hour
  and then kept (``judge_sampling_rates``): regular strata get the hour's base rate ``per_hour /
  expected regular requests``, raised so that a stratum expects at least ``min_per_stratum``; hard
  cases get rate 1 while their expected number fits in ``max_share`` of ``per_hour``, less beyond it.
  Expected volumes extrapolate what has arrived of the hour so far to the whole hour.
* A request is in the sample when ``draw = hash(seed, span_id) < rate`` of its stratum: independent
  (Poisson) sampling, so its inclusion probability is exactly that rate however the hour arrives. A
  request keeps its draw, so a later run takes every request an earlier one took (unless its stratum
  changed) and adds the new ones; re-running the hour picks the same requests.

Estimates are weighted back to the population with ``1 / inclusion_probability``: a total is the
Horvitz-Thompson sum ``sum(y / p)``, unbiased; a rate is the Hajek ratio ``sum(y / p) / sum(1 / p)``
over the judged rows. ``sum(1 / p)`` over a stratum's sample estimates its size without bias.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.judge.settings import PrioritySettings, SamplingSettings
from eval_pipelines.schemas import JUDGE_SAMPLE, JUDGE_SAMPLING_RATES

HOUR_US = 3_600_000_000
REQUEST_COLUMNS = ["span_id", "trace_id", "start_time", "route", "prompt_version", "request_model",
                   "response_model", "service_name", "environment", "provider", "output_text", "tool_calls"]


def draw(seed: int, span_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the span id."""
    digest = hashlib.blake2b(f"{seed}\x1f{span_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def hard_cases(con: duckdb.DuckDBPyConnection, scores: pa.Table | None, feedback: pa.Table | None,
               priority: PrioritySettings) -> pa.Table:
    """``span_id`` and the sorted list of reasons it is a hard case."""
    parts = ["SELECT NULL::VARCHAR AS span_id, NULL::VARCHAR AS reason WHERE false"]
    if scores is not None and priority.failed_evaluators:
        con.register("_scores", scores)
        parts.append("SELECT span_id, 'failed:' || evaluator FROM _scores "
                     "WHERE NOT passed AND list_contains($evaluators, evaluator)")
    if feedback is not None and priority.thumbs_down:
        con.register("_feedback", feedback)
        parts.append("SELECT span_id, 'thumbs_down' FROM _feedback "
                     "WHERE kind = 'thumbs' AND label = 'down' AND span_id IS NOT NULL")
    query = " UNION ALL ".join(parts)
    params = {"evaluators": priority.failed_evaluators} if "$evaluators" in query else None
    return con.sql(f"SELECT span_id, list_sort(list(DISTINCT reason)) AS reasons FROM ({query}) "
                   "GROUP BY span_id", params=params).to_arrow_table()


def _stratum_expression(columns: list[str]) -> str:
    parts = [f"'{column}=' || coalesce({column}, '(none)')" for column in columns] or ["'all'"]
    return " || ', ' || ".join(parts)


@dataclass(frozen=True)
class SampleDraw:
    sample: pa.Table  # schema JUDGE_SAMPLE
    rates: pa.Table  # schema JUDGE_SAMPLING_RATES: every stratum's rate in the hour (kept ones and new ones)
    new_strata: int


def _regular_rate(expected: float, base: float, settings: SamplingSettings) -> float:
    """The hour's base rate, raised so the stratum expects at least ``min_per_stratum`` requests."""
    return min(1.0, max(base, settings.min_per_stratum / max(expected, 1.0)))


def decide_rates(sizes: dict[str, int], hard: set[str], known: dict[str, float], scale: float,
                 settings: SamplingSettings) -> dict[str, tuple[float, float]]:
    """Rates (with the expected hour volume they came from) for the strata in ``sizes`` not in ``known``.
    ``scale`` extrapolates the counts so far to the whole hour."""
    expected = {stratum: size * scale for stratum, size in sizes.items()}
    regular_total = sum(v for stratum, v in expected.items() if stratum not in hard)
    hard_total = sum(v for stratum, v in expected.items() if stratum in hard)
    cap = settings.priority.max_share * settings.per_hour
    hard_rate = next((rate for stratum, rate in known.items() if stratum in hard),
                     1.0 if hard_total <= cap else cap / hard_total)
    base = (settings.per_hour - min(hard_total, cap)) / max(regular_total, 1.0)
    return {stratum: (volume, hard_rate if stratum in hard else _regular_rate(volume, base, settings))
            for stratum, volume in expected.items() if stratum not in known}


def hour_coverage(start_times: pa.ChunkedArray, hour_start_us: int, now_us: int) -> float:
    """The share of the hour its requests so far stand for: all of it once the hour is over, else up to the
    latest request's start (at least a minute's worth)."""
    if now_us >= hour_start_us + HOUR_US or not len(start_times):
        return 1.0
    return min(1.0, max((pc.max(start_times).value - hour_start_us) / HOUR_US, 1 / 60))


def draw_sample(con: duckdb.DuckDBPyConnection, requests: pa.Table, hard: pa.Table, settings: SamplingSettings,
                hour_start_us: int, rates: pa.Table | None, now_us: int) -> SampleDraw:
    """The hour's sample (priority rows first, then by draw) at the stored ``rates``; strata without one get
    theirs now (``now_us``)."""
    con.register("_requests", requests)
    con.register("_hard", hard)
    units = con.sql(f"""
        SELECT r.span_id, r.trace_id, r.start_time, r.route, r.prompt_version, r.request_model, r.response_model,
               {_stratum_expression(settings.strata)} || CASE WHEN h.span_id IS NULL THEN '' ELSE ' (hard case)' END
                   AS stratum,
               h.span_id IS NOT NULL AS priority, coalesce(h.reasons, []::VARCHAR[]) AS priority_reasons
        FROM _requests r LEFT JOIN _hard h USING (span_id)
        WHERE coalesce(trim(r.output_text), '') <> '' OR r.tool_calls IS NOT NULL""").to_arrow_table()
    draws = pa.array([draw(settings.seed, span_id) for span_id in units.column("span_id").to_pylist()],
                     pa.float64())
    con.register("_units", units.append_column("draw", draws))
    sizes = dict(con.sql("SELECT stratum, count(*) FROM _units GROUP BY ALL").fetchall())
    known = dict(zip(rates.column("stratum").to_pylist(), rates.column("rate").to_pylist(), strict=True)) \
        if rates is not None else {}
    hard_strata = {stratum for stratum in sizes if stratum.endswith("(hard case)")}
    coverage = hour_coverage(units.column("start_time"), hour_start_us, now_us)
    new = decide_rates(sizes, hard_strata, known, 1 / coverage, settings)
    all_rates = _rates_table(rates, new, hour_start_us, now_us)
    con.register("_rates", all_rates)
    sample = con.sql("""
        SELECT *, count(*) OVER (PARTITION BY stratum) AS stratum_sampled FROM (
            SELECT u.span_id, u.trace_id, u.start_time, u.route, u.prompt_version, u.request_model,
                   u.response_model, u.stratum, count(*) OVER (PARTITION BY u.stratum) AS stratum_size,
                   u.priority, u.priority_reasons, u.draw, r.rate AS inclusion_probability
            FROM _units u JOIN _rates r USING (stratum)
            QUALIFY u.draw < r.rate)
        ORDER BY priority DESC, draw""").to_arrow_table()
    return SampleDraw(sample.select(JUDGE_SAMPLE.names).cast(JUDGE_SAMPLE), all_rates, len(new))


def _rates_table(stored: pa.Table | None, new: dict[str, tuple[float, float]], hour_start_us: int,
                 now_us: int) -> pa.Table:
    timestamp = JUDGE_SAMPLING_RATES.field("hour_start").type
    added = pa.table({
        "hour_start": pa.array([hour_start_us] * len(new), pa.int64()).cast(timestamp),
        "stratum": list(new), "expected_volume": [volume for volume, _ in new.values()],
        "rate": [rate for _, rate in new.values()],
        "decided_at": pa.array([now_us] * len(new), pa.int64()).cast(timestamp),
    }, schema=JUDGE_SAMPLING_RATES)
    return pa.concat_tables([stored.cast(JUDGE_SAMPLING_RATES), added]) if stored is not None else added
