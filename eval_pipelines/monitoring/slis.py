"""Quality SLIs per hour and slice, every rate with its numerator, denominator and Wilson interval.

Each SLI is computed for the whole hour and for each of its minutes (``window_minutes`` 60 and 1):
alert rules add up buckets into windows of minutes (rates pool numerators and denominators), the UI and
the reports read the hours. Slices (DuckDB grouping sets): the total, each of ``route``,
``prompt_version`` and ``model`` (the served model version: ``response_model``, else ``request_model``)
alone, and their combination.
Rates on fewer than ``min_samples`` are kept and marked ``low_sample``, never hidden. Judge pass
rates are weighted back to the traffic (Hajek), with the Kish effective sample size as the interval's
n. Latency percentiles, tokens, cost, volume and an agent run's steps and time in tools are values without
interval; ``volume_share`` (a slice's share of the hour's requests) is the traffic mix, where a shift in what
users ask shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.calibration.statistics import rogan_gladen
from eval_pipelines.evaluators.registry import EVALUATORS
from eval_pipelines.judge.summary import EFFECTIVE_N_SQL, WEIGHTED_PASS_RATE_SQL
from eval_pipelines.monitoring.intervals import wilson
from eval_pipelines.schemas import QUALITY_SLIS

DIMENSIONS = ("route", "prompt_version", "model")
MODEL = "coalesce(response_model, request_model)"
BUCKET_MINUTES = 1
HOUR_MINUTES = 60
_SETS = ("", "route", "prompt_version", "model", "route, prompt_version, model")
# Every slice for the hour and for each bucket of it.
GROUPING = "GROUPING SETS (" + ", ".join([f"({s})" for s in _SETS] + [f"(bucket{', ' + s if s else ''})"
                                                                        for s in _SETS]) + ")"

# name: (source view, numerator, denominator); every source view has route, prompt_version, model.
RATES = {
    "error_rate": ("sli_traces", "count(*) FILTER (status_code = 'ERROR')", "count(*)"),
    "validation_failure_rate": ("sli_validation", "count(*) FILTER (NOT passed)", "count(*)"),
    **{evaluator.sli.name: ("sli_scores", f"count(*) FILTER (evaluator = '{name}' AND "
                                          f"{'passed' if evaluator.sli.counts == 'passed' else 'NOT passed'})",
                            f"count(*) FILTER (evaluator = '{name}')")
       for name, evaluator in EVALUATORS.items() if evaluator.sli},
    "thumbs_down_rate": ("sli_feedback", "count(*) FILTER (kind = 'thumbs' AND label = 'down')",
                         "count(*) FILTER (kind = 'thumbs')"),
    # Per session closed in the window, sliced by its last turn's route, prompt version and model.
    "session_escalation_rate": ("sli_sessions", "count(*) FILTER (escalated)", "count(*)"),
    "session_frustration_rate": ("sli_sessions", "count(*) FILTER (len(frustration_markers) > 0)", "count(*)"),
    "session_repeated_question_rate": ("sli_sessions", "count(*) FILTER (repeated_questions > 0)", "count(*)"),
    "session_abandonment_rate": ("sli_sessions", "count(*) FILTER (abandoned)", "count(*)"),
    "session_failure_rate": ("sli_sessions", "count(*) FILTER (failed_calls > 0 OR errors > 0)", "count(*)"),
    # Per agent run started in the window, sliced by its first call.
    "agent_loop_rate": ("sli_agents", "count(*) FILTER (loops > 0)", "count(*)"),
    "agent_invalid_tool_call_rate": ("sli_agents", "count(*) FILTER (invalid_tool_calls > 0)", "count(*)"),
    "agent_error_rate": ("sli_agents", "count(*) FILTER (errors > 0)", "count(*)"),
    # Per tool execution of the runs started in the window.
    "agent_tool_error_rate": ("sli_agents", "sum(tool_errors)::DOUBLE", "sum(tool_executions)::DOUBLE"),
}
CUSTOM_SLI_PREFIX = "evaluator_pass_rate_"
# Implicit signals per request of the slice in the hour (signals attributed to the hour they are seen).
SIGNAL_RATES = ("regeneration", "rephrase")
VALUES = {
    "volume": "count(*)",
    "latency_p50_ms": "quantile_cont(duration_ms, 0.5)",
    "latency_p95_ms": "quantile_cont(duration_ms, 0.95)",
    "latency_p99_ms": "quantile_cont(duration_ms, 0.99)",
    "tokens": "sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0))",
    "cost_usd": "sum(coalesce(cost_usd, 0))",
    # The pipeline's own delay: from a call's landing file being written to its row being queryable.
    "pipeline_lag_p95_seconds": "quantile_cont(epoch(ingested_at) - epoch(landed_at), 0.95)",
}
# Values per agent run started in the window.
AGENT_VALUES = {
    "agent_steps_per_run": "avg(steps)",
    "agent_tool_time_p95_s": "quantile_cont(tool_time_s, 0.95)",
}


@dataclass(frozen=True)
class HourInputs:
    """The hour's tables; any may be ``None`` when its asset has not run (its SLIs are then absent)."""

    traces: pa.Table
    validation: pa.Table | None = None
    scores: pa.Table | None = None
    feedback: pa.Table | None = None
    judged: pa.Table | None = None
    calibration: dict[str, dict] | None = None  # latest calibration row per rubric, for corrected judge rates
    custom_evaluators: tuple[str, ...] = ()  # a team's own evaluators: each gets evaluator_pass_rate_<name>
    sessions: pa.Table | None = None  # the sessions that closed in the hour
    agent_runs: pa.Table | None = None  # the agent runs that started in the hour


def _slice_columns() -> str:
    key = ", ".join(f"CASE WHEN GROUPING({d}) = 0 THEN '{d}=' || coalesce({d}, '(none)') END" for d in DIMENSIONS)
    dimension = ", ".join(f"CASE WHEN GROUPING({d}) = 0 THEN '{d}' END" for d in DIMENSIONS)
    return (f"{', '.join(DIMENSIONS)}, concat_ws(', ', {key}) AS slice_key, concat_ws('×', {dimension}) AS dimension, "
            "bucket, GROUPING(bucket) = 0 AS per_bucket")


def _bucket(column: str) -> str:
    return f"time_bucket(INTERVAL '{BUCKET_MINUTES} minutes', {column}) AS bucket"


def _register(con: duckdb.DuckDBPyConnection, inputs: HourInputs) -> set[str]:
    """One view per input, each row with its slice columns and the bucket it counts in: a request's start,
    a feedback's observation, a session's close, an agent run's first call."""
    views = {"sli_traces": inputs.traces}
    con.register("_sli_traces_raw", inputs.traces)
    con.execute(f"CREATE OR REPLACE TEMP VIEW sli_traces AS SELECT *, {MODEL} AS model, {_bucket('start_time')} "
                "FROM _sli_traces_raw")
    for name, table, slice_from, time_column in (
            ("sli_validation", inputs.validation, "traces", None), ("sli_scores", inputs.scores, None, "start_time"),
            ("sli_feedback", inputs.feedback, None, "observed_time"), ("sli_judged", inputs.judged, None, "start_time"),
            ("sli_sessions", inputs.sessions, None, "closed_at"),
            ("sli_agents", inputs.agent_runs, None, "first_time")):
        if table is None:
            continue
        views[name] = table
        con.register(f"_{name}_raw", table)
        body = (f"SELECT v.*, t.route, t.prompt_version, t.model, t.bucket FROM _{name}_raw v "
                "JOIN sli_traces t USING (span_id)" if slice_from
                else f"SELECT *, {MODEL} AS model, {_bucket(time_column)} FROM _{name}_raw")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")
    return set(views)


def _grouped(con: duckdb.DuckDBPyConnection, view: str, measures: dict[str, str],
             params: list | None = None) -> list[dict]:
    """``measures`` per slice of ``view``; values from the data go in ``params`` (``?`` in ``view``), never inline."""
    columns = ", ".join(f"{expression} AS \"{name}\"" for name, expression in measures.items())
    sql = f"SELECT {_slice_columns()}, {columns} FROM {view} GROUP BY {GROUPING}"
    return con.sql(sql, params=params).to_arrow_table().to_pylist()


def _rows(hour: datetime, grouped: Iterable[dict], sli: str, numerator: str | None, denominator: str | None,
          value: str | None, min_samples: int) -> Iterable[dict]:
    for g in grouped:
        if g["per_bucket"] and g["bucket"] is None:
            continue  # no time to place it in a minute: it counts in the hour only
        window = {"window_start": g["bucket"], "window_minutes": BUCKET_MINUTES} if g["per_bucket"] \
            else {"window_start": hour, "window_minutes": HOUR_MINUTES}
        base = {"hour_start": hour, **window, "dimension": g["dimension"] or "total",
                "slice": g["slice_key"] or "total", **{d: g[d] for d in DIMENSIONS}, "sli": sli}
        if value is not None:
            yield {**base, "value": float(g[value]) if g[value] is not None else None}
            continue
        n, k = g[denominator] or 0, g[numerator] or 0
        if not n:
            continue
        low, high = wilson(k, n)
        yield {**base, "numerator": float(k), "denominator": float(n), "value": k / n, "ci_low": low, "ci_high": high,
               "low_sample": n < min_samples}


def compute_slis(con: duckdb.DuckDBPyConnection, hour: datetime, inputs: HourInputs, min_samples: int = 30) -> pa.Table:
    """The hour's SLIs in long format (schema ``QUALITY_SLIS``)."""
    present = _register(con, inputs)
    rows: list[dict] = []
    values = _grouped(con, "sli_traces", VALUES)
    rows += _value_rows(hour, values, VALUES, min_samples)
    rows += list(_rows(hour, _shares(values), "volume_share", "volume", "total", None, min_samples))
    if "sli_agents" in present:
        rows += _value_rows(hour, _grouped(con, "sli_agents", AGENT_VALUES), AGENT_VALUES, min_samples)
    by_view: dict[str, dict[str, str]] = {}
    for name, (view, numerator, denominator) in RATES.items():
        by_view.setdefault(view, {}).update({f"{name}__n": numerator, f"{name}__d": denominator})
    for view, measures in by_view.items():
        if view not in present:
            continue
        grouped = _grouped(con, view, measures)
        rows += [r for name, (v, _, _) in RATES.items() if v == view
                 for r in _rows(hour, grouped, name, f"{name}__n", f"{name}__d", None, min_samples)]
    rows += _signal_rows(con, hour, present, min_samples)
    rows += _custom_rows(con, hour, present, min_samples, inputs.custom_evaluators)
    rows += _judge_rows(con, hour, present, min_samples, inputs.calibration or {})
    return pa.Table.from_pylist(rows, schema=QUALITY_SLIS)


def _value_rows(hour: datetime, grouped: list[dict], measures: dict[str, str], min_samples: int) -> list[dict]:
    return [r for name in measures for r in _rows(hour, grouped, name, None, None, name, min_samples)]


def _shares(values: list[dict]) -> list[dict]:
    """The traffic mix: each slice's share of the window's requests (a shift in what users ask shows here).
    Every slice of the hour gets a row in every minute with traffic, with zero requests where it had none, so
    that summing minutes into a window sums the window's requests in every slice's denominator."""
    totals = {(g["per_bucket"], g["bucket"]): g["volume"] for g in values if not g["slice_key"]}
    hour_slices = [g for g in values if g["slice_key"] and not g["per_bucket"]]
    volumes = {(g["bucket"], g["slice_key"]): g["volume"] for g in values if g["slice_key"] and g["per_bucket"]}
    minutes = sorted(bucket for per_bucket, bucket in totals if per_bucket and bucket is not None)
    return [{**g, "total": totals[False, None]} for g in hour_slices] + [
        {**g, "per_bucket": True, "bucket": minute, "volume": volumes.get((minute, g["slice_key"]), 0),
         "total": totals[True, minute]} for minute in minutes for g in hour_slices]


def _signal_rows(con: duckdb.DuckDBPyConnection, hour: datetime, present: set[str], min_samples: int) -> list[dict]:
    """Regenerations and rephrases per request of the slice (each signal carries its response's slice)."""
    if "sli_feedback" not in present:
        return []
    requests = _grouped(con, "sli_traces", {"d": "count(*)"})
    rows = []
    for kind in SIGNAL_RATES:
        signals = {(g["per_bucket"], g["bucket"], g["slice_key"]): g["n"] for g in _grouped(
            con, "(SELECT * FROM sli_feedback WHERE kind = ?)", {"n": "count(*)"}, [kind])}
        grouped = [{**g, "n": signals.get((g["per_bucket"], g["bucket"], g["slice_key"]), 0)} for g in requests]
        rows += list(_rows(hour, grouped, f"{kind}_rate", "n", "d", None, min_samples))
    return rows


def _custom_rows(con: duckdb.DuckDBPyConnection, hour: datetime, present: set[str], min_samples: int,
                 names: tuple[str, ...]) -> list[dict]:
    """Each custom evaluator's pass rate over the requests it passed or failed (errors and scores alone aside)."""
    if "sli_scores" not in present:
        return []
    rows = []
    for name in names:
        grouped = _grouped(con, "(SELECT * FROM sli_scores WHERE evaluator = ?)",
                           {"n": "count(*) FILTER (passed)", "d": "count(*) FILTER (passed IS NOT NULL)"}, [name])
        rows += list(_rows(hour, grouped, f"{CUSTOM_SLI_PREFIX}{name}", "n", "d", None, min_samples))
    return rows


def _judge_rows(con: duckdb.DuckDBPyConnection, hour: datetime, present: set[str], min_samples: int,
                calibration: dict[str, dict]) -> list[dict]:
    """Weighted judge pass rates; and, where a calibration allows, the Rogan-Gladen corrected rate."""
    if "sli_judged" not in present:
        return []
    rubrics = [r for (r,) in con.sql("SELECT DISTINCT rubric FROM sli_judged WHERE status = 'ok'").fetchall()]
    rows = []
    for rubric in sorted(rubrics):
        grouped = _grouped(con, "(SELECT * FROM sli_judged WHERE status = 'ok' AND rubric = ?)",
                           {"weighted": WEIGHTED_PASS_RATE_SQL, "n_eff": EFFECTIVE_N_SQL}, [rubric])
        for g in grouped:
            scaled = {**g, "k": g["weighted"] * g["n_eff"]}
            rows += list(_rows(hour, [scaled], f"judge_pass_rate_{rubric}", "k", "n_eff", None, min_samples))
        if rubric in calibration:
            rows += _corrected_rows(rows[-len(grouped):], calibration[rubric])
    return rows


def _corrected_rows(raw_rows: list[dict], calibration: dict) -> list[dict]:
    corrected = []
    for row in raw_rows:
        rate = rogan_gladen(row["value"], row["denominator"], calibration["tpr"], calibration["n_pass"],
                            calibration["tnr"], calibration["n_fail"])
        if rate.corrected is not None:
            corrected.append({**row, "sli": f"{row['sli']}_corrected", "numerator": None, "value": rate.corrected,
                              "ci_low": rate.interval[0], "ci_high": rate.interval[1]})
    return corrected


DAY_MINUTES = 24 * 60


def daily_rows(day_start: datetime, rows: list[dict]) -> pa.Table:
    """SLI rows of one day (each row: ``sli``, ``value``, optionally numerator, denominator and its slice;
    the total slice where none is given), as the daily drift, canary and divergence results are written
    for the alert rules."""
    return pa.Table.from_pylist([{"dimension": "total", "slice": "total", **row, "hour_start": day_start,
                                  "window_start": day_start, "window_minutes": DAY_MINUTES} for row in rows],
                                schema=QUALITY_SLIS)


def hourly(slis: pa.Table) -> pa.Table:
    """The rows measuring whole hours (without their minutes)."""
    return slis.filter(pc.equal(slis.column("window_minutes"), HOUR_MINUTES))


def total_values(slis: pa.Table) -> dict[str, float]:
    """The total slice's hourly SLIs by name, sorted (what the UI plots per materialization)."""
    return dict(sorted((row["sli"], row["value"]) for row in hourly(slis).to_pylist()
                       if row["slice"] == "total" and row["value"] is not None))


# Every SLI name a rule may watch (judge pass rates add one per rubric: judge_pass_rate_<rubric>[_corrected];
# custom evaluators one each: evaluator_pass_rate_<name>).
KNOWN_SLIS = {*RATES, *VALUES, *AGENT_VALUES, "volume_share", *(f"{kind}_rate" for kind in SIGNAL_RATES)}
