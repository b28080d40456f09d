"""Online next to offline: per model × prompt version and metric, the pass rate production shows on a day
and the pass rate the offline evaluation reported, their gap and its interval.

Online rates: the programmatic evaluators on every request of the day; the judge's verdicts weighted
by 1 / inclusion probability (the judge sample over-draws hard cases), with Kish's effective sample
size for the interval. Offline rates: per offline source (a golden-set version scored here, or a
team's results file). The gap is online − offline with Newcombe's hybrid score interval (from the
two Wilson intervals). ``divergence_shortfall`` is the part of offline − online the interval is sure
of, ``max(0, −gap_high)``: 0 while the two agree within noise, so a rule on it pages only for a real,
not a small-sample, gap.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from eval_pipelines.judge.summary import EFFECTIVE_N_SQL, WEIGHTED_PASS_RATE_SQL
from eval_pipelines.monitoring.intervals import wilson
from eval_pipelines.monitoring.slis import daily_rows
from eval_pipelines.schemas import ONLINE_OFFLINE_DIVERGENCE

DIMENSION = "metric×offline×prompt_version×model"
SHORTFALL = "divergence_shortfall"
MODEL = "coalesce(response_model, request_model)"


def newcombe(p1: float, n1: float, p2: float, n2: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``p1 − p2`` (method 10), from the Wilson intervals of each."""
    l1, u1 = wilson(p1 * n1, n1)
    l2, u2 = wilson(p2 * n2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def online_rates(con: duckdb.DuckDBPyConnection, programmatic: str | None, judged: list[str | None],
                 day: date) -> list[dict[str, Any]]:
    """Pass rates of the day per model, prompt version and metric: ``n`` is the (effective) sample size. ``judged``
    are the judged tables' scans (calls, sessions and agent runs; ``None`` for one without files yet)."""
    first, last = f"{day.isoformat()}-00:00", f"{day.isoformat()}-23:00"
    parts = []
    if programmatic:
        parts.append(f"""SELECT {MODEL} AS model, prompt_version, evaluator AS metric,
                                avg(passed::DOUBLE) AS rate, count(*)::DOUBLE AS n
                         FROM {programmatic} WHERE hour BETWEEN $first AND $last AND passed IS NOT NULL
                         GROUP BY ALL""")
    for scan in filter(None, judged):
        parts.append(f"""SELECT {MODEL} AS model, prompt_version, rubric AS metric,
                                {WEIGHTED_PASS_RATE_SQL} AS rate, {EFFECTIVE_N_SQL} AS n
                         FROM {scan} WHERE hour BETWEEN $first AND $last AND status = 'ok'
                              AND passed IS NOT NULL AND inclusion_probability > 0
                         GROUP BY ALL""")
    if not parts:
        return []
    sql = " UNION ALL ".join(parts) + " ORDER BY ALL"
    return con.sql(sql, params={"first": first, "last": last}).to_arrow_table().to_pylist()


def offline_rates(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pass rates per offline source, model, prompt version and metric (rows with a verdict only)."""
    groups: dict[tuple, list[bool]] = {}
    for row in scores:
        if row["passed"] is not None:
            groups.setdefault((row["source"], row["model"], row["prompt_version"], row["metric"]), []).append(
                row["passed"])
    return [{"source": source, "model": model, "prompt_version": version, "metric": metric,
             "rate": sum(passed) / len(passed), "n": float(len(passed))}
            for (source, model, version, metric), passed in sorted(groups.items())]


def compare(day: date, online: list[dict[str, Any]], offline: list[dict[str, Any]]) -> pa.Table:
    """One row per offline rate that production saw the same day (same model, prompt version, metric)."""
    by_key = {(row["model"], row["prompt_version"], row["metric"]): row for row in online}
    rows = []
    for side in offline:
        seen = by_key.get((side["model"], side["prompt_version"], side["metric"]))
        if seen is None or not seen["n"]:
            continue
        low, high = newcombe(seen["rate"], seen["n"], side["rate"], side["n"])
        rows.append({"day": day, "model": side["model"], "prompt_version": side["prompt_version"],
                     "metric": side["metric"], "offline_source": side["source"], "online_n": round(seen["n"]),
                     "online_rate": seen["rate"], "offline_n": round(side["n"]), "offline_rate": side["rate"],
                     "gap": seen["rate"] - side["rate"], "gap_low": low, "gap_high": high})
    return pa.Table.from_pylist(rows, schema=ONLINE_OFFLINE_DIVERGENCE)


def shortfall(row: dict[str, Any]) -> float:
    return max(0.0, -row["gap_high"])


def divergence_slis(day_start: datetime, divergence: pa.Table) -> pa.Table:
    """The day's shortfalls as SLI rows (``divergence_scores``), one slice per metric, source and version,
    plus the largest one overall."""
    rows = divergence.to_pylist()
    slices = [{"dimension": DIMENSION, "sli": SHORTFALL,
               "slice": f"metric={r['metric']}, offline={r['offline_source']}, prompt_version={r['prompt_version']}, "
                        f"model={r['model']}", "prompt_version": r["prompt_version"], "model": r["model"],
               "value": shortfall(r), "ci_low": r["gap_low"], "ci_high": r["gap_high"]} for r in rows]
    return daily_rows(day_start, [{"sli": "divergence_max_shortfall",
                                   "value": max((shortfall(r) for r in rows), default=0.0)}, *slices])
