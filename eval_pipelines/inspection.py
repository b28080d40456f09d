"""Read-only summaries of the lake, for the CLI and the demo (plain DuckDB over Parquet)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from eval_pipelines.calibration.report import corrected_rates, latest_calibration
from eval_pipelines.calibration.statistics import CorrectedRate
from eval_pipelines.judge.summary import WEIGHTED_PASS_RATE_SQL, WeightedRate, weighted_pass_rates
from eval_pipelines.lake import Lake


@dataclass
class LakeSummary:
    rows_per_hour: list[tuple[str, int, int, float | None]]
    rows: int
    quarantined: int
    pass_rate: float | None
    by_format: list[tuple[str, int]]
    quarantine_reasons: list[tuple[str, int]]
    pass_rates: list[tuple[str, int, float]] = field(default_factory=list)
    worst_slices: list[tuple[str, str, str, int, float, float]] = field(default_factory=list)
    feedback: list[tuple[str, int]] = field(default_factory=list)
    feedback_unlinked: int = 0
    sessions: tuple[int, float, float, float, float] | None = None  # closed, turns, escalated, frustrated, repeated
    # runs, steps per run, looping share, invalid-tool-call share, tool executions, failed share of them
    agent_runs: tuple[int, float, float, float, int, float | None] | None = None
    judge: list[WeightedRate] = field(default_factory=list)
    conversation_judge: list[WeightedRate] = field(default_factory=list)
    judge_statuses: list[tuple[str, int]] = field(default_factory=list)
    judge_worst: list[tuple[str, str, str, int, float]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    corrected: dict[str, CorrectedRate] = field(default_factory=dict)
    canary: tuple[str, int, int] | None = None
    alerts: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    drift: list[tuple[str, float, str]] = field(default_factory=list)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.sql(sql).fetchall()[0][0]


def summarize(lake: Lake, con: duckdb.DuckDBPyConnection) -> LakeSummary:
    tables = set(lake.tables())
    traces = lake.scan("traces")
    quarantine = lake.scan("trace_quarantine")
    validation = lake.scan("trace_validation")
    if "traces" not in tables:
        return LakeSummary([], 0, 0, None, [], [])
    per_hour = con.sql(f"""
        WITH t AS (SELECT hour, count(*) AS n FROM {traces} GROUP BY hour),
             q AS (SELECT hour, count(*) AS n FROM {quarantine} GROUP BY hour),
             v AS ({f"SELECT hour, avg(passed::INT) AS rate FROM {validation} GROUP BY hour"
                   if "trace_validation" in tables else "SELECT NULL::VARCHAR AS hour, NULL::DOUBLE AS rate"})
        SELECT t.hour, t.n, coalesce(q.n, 0), v.rate FROM t
        LEFT JOIN q USING (hour) LEFT JOIN v USING (hour) ORDER BY t.hour""").fetchall()
    rows = sum(r[1] for r in per_hour)
    quarantined = _scalar(con, f"SELECT count(*) FROM {quarantine}")
    pass_rate = _scalar(con, f"SELECT avg(passed::INT) FROM {validation}") if "trace_validation" in tables else None
    by_format = con.sql(f"SELECT source_format, count(*) FROM {traces} GROUP BY 1 ORDER BY 2 DESC").fetchall()
    reasons = con.sql(f"""SELECT split_part(reason, ':', 1) AS r, count(*) FROM {quarantine}
                          GROUP BY 1 ORDER BY 2 DESC""").fetchall()
    summary = LakeSummary(per_hour, rows, quarantined, pass_rate, by_format, reasons)
    if "programmatic_scores" in tables:
        _add_scores(summary, lake, con)
    if "user_feedback" in tables:
        summary.feedback = con.sql(f"SELECT kind, count(*) FROM {lake.scan('user_feedback')} GROUP BY 1 "
                                   "ORDER BY 2 DESC").fetchall()
    if "feedback_quarantine" in tables:
        summary.feedback_unlinked = _scalar(con, f"SELECT count(*) FROM {lake.scan('feedback_quarantine')}")
    if "sessions" in tables:
        summary.sessions = con.sql(f"""
            SELECT count(*), avg(turns), avg(escalated::INT), avg((len(frustration_markers) > 0)::INT),
                   avg((repeated_questions > 0)::INT) FROM {lake.scan('sessions')}""").fetchall()[0]
    if "agent_runs" in tables:
        summary.agent_runs = con.sql(f"""
            SELECT count(*), avg(steps), avg((loops > 0)::INT), avg((invalid_tool_calls > 0)::INT),
                   sum(tool_executions)::BIGINT, sum(tool_errors) / nullif(sum(tool_executions), 0)
            FROM {lake.scan('agent_runs')}""").fetchall()[0]
    if "conversation_judge_scores" in tables:
        summary.conversation_judge = _weighted_rates(con, lake.scan("conversation_judge_scores"))
    if "judge_scores" in tables:
        _add_judge(summary, lake, con)
    if "judge_calibration" in tables:
        _add_calibration(summary, lake, con)
    if "judge_canary" in tables:
        summary.canary = _canary(lake, con)
    if "drift_scores" in tables:
        summary.drift = con.sql(f"""
            SELECT day, max(value) FILTER (WHERE sli = 'drift_share'),
                   coalesce(string_agg(replace(sli, 'drift_detected_', ''), ', ' ORDER BY sli)
                            FILTER (WHERE sli LIKE 'drift_detected_%' AND value = 1), '')
            FROM {lake.scan('drift_scores')} GROUP BY day ORDER BY day""").fetchall()
    if "alerts" in tables:
        summary.alerts = con.sql(f"""SELECT strftime(evaluated_at, '%Y-%m-%d %H:%M'), event, severity, rule, message
                                     FROM {lake.scan('alerts')} ORDER BY evaluated_at, event_time""").fetchall()
    return summary


def _add_calibration(summary: LakeSummary, lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    """The latest calibration per rubric, and the judged pass rates corrected with it."""
    history = lake.scan("judge_calibration")
    summary.calibration = con.sql(f"""
        SELECT * EXCLUDE (rank) FROM (SELECT *, row_number() OVER (PARTITION BY rubric ORDER BY run_time DESC) AS rank
                                     FROM {history} WHERE slice = 'all') WHERE rank = 1 ORDER BY rubric
        """).to_arrow_table().to_pylist()
    if not summary.judge:
        return
    versions = dict(con.sql(f"SELECT rubric, arg_max(judge_version, judged_at) FROM {lake.scan('judge_scores')} "
                            "WHERE status = 'ok' GROUP BY rubric").fetchall())
    summary.corrected = corrected_rates(summary.judge, latest_calibration(con, history, versions))


def _canary(lake: Lake, con: duckdb.DuckDBPyConnection) -> tuple[str, int, int]:
    """(latest day, items compared with their baseline day, flips)."""
    canary = lake.scan("judge_canary")
    return con.sql(f"""
        WITH latest AS (SELECT * FROM {canary} WHERE day = (SELECT max(day) FROM {canary}) AND status = 'ok'),
             base AS (SELECT item_id, rubric, judge_version, arg_min(label, day) AS label FROM {canary}
                      WHERE status = 'ok' AND day < (SELECT max(day) FROM {canary}) GROUP BY ALL)
        SELECT (SELECT max(day) FROM {canary}), count(base.label), count(*) FILTER (base.label <> latest.label)
        FROM latest LEFT JOIN base USING (item_id, rubric, judge_version)""").fetchall()[0]


def _weighted_rates(con: duckdb.DuckDBPyConnection, judged: str) -> list[WeightedRate]:
    """Each rubric's pass rate in a table of judge verdicts, weighted back to what was sampled."""
    return weighted_pass_rates(con, con.sql(f"SELECT rubric, status, passed, inclusion_probability FROM {judged}")
                               .to_arrow_table())


def _add_judge(summary: LakeSummary, lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    """Judged pass rate per rubric (raw and weighted to the traffic), statuses, and the worst slice."""
    judged = lake.scan("judge_scores")
    summary.judge = _weighted_rates(con, judged)
    summary.judge_statuses = con.sql(f"SELECT status, count(*) FROM {judged} GROUP BY 1 ORDER BY 2 DESC").fetchall()
    summary.judge_worst = con.sql(f"""
        SELECT rubric, route, prompt_version, count(*) AS n, 1 - {WEIGHTED_PASS_RATE_SQL} AS fail FROM {judged}
        WHERE status = 'ok' GROUP BY ALL HAVING count(*) >= 10 ORDER BY fail DESC LIMIT 3""").fetchall()


def _add_scores(summary: LakeSummary, lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    """Pass rate per evaluator, and the route x prompt version slices failing far more than the rest."""
    scores = lake.scan("programmatic_scores")
    summary.pass_rates = con.sql(f"""SELECT evaluator, count(*), avg(passed::INT) FROM {scores}
                                     GROUP BY 1 ORDER BY 3, 1""").fetchall()
    summary.worst_slices = con.sql(f"""
        WITH s AS (SELECT evaluator, route, prompt_version, count(*) AS n, 1 - avg(passed::INT) AS fail
                   FROM {scores} GROUP BY ALL),
             o AS (SELECT evaluator, 1 - avg(passed::INT) AS overall FROM {scores} GROUP BY 1)
        SELECT s.evaluator, s.route, s.prompt_version, s.n, s.fail, o.overall FROM s JOIN o USING (evaluator)
        WHERE s.n >= 20 AND s.fail >= 0.1 AND s.fail >= 2 * o.overall
        ORDER BY s.fail - o.overall DESC LIMIT 5""").fetchall()


def format_summary(summary: LakeSummary) -> str:
    if not summary.rows_per_hour:
        return "The lake has no traces yet."
    lines = ["hour               rows  quarantined  validation pass rate"]
    for hour, rows, quarantined, rate in summary.rows_per_hour:
        rate_text = f"{rate:6.1%}" if rate is not None else "     -"
        lines.append(f"{hour}  {rows:6d}  {quarantined:11d}  {rate_text}")
    validation = f", validation pass rate {summary.pass_rate:.1%}" if summary.pass_rate is not None else ""
    lines.append(f"total: {summary.rows} trace rows, {summary.quarantined} quarantined lines{validation}")
    lines.append("by source format: " + ", ".join(f"{fmt} {n}" for fmt, n in summary.by_format))
    if summary.quarantine_reasons:
        lines.append("quarantine reasons: " + "; ".join(f"{r} ({n})" for r, n in summary.quarantine_reasons))
    if summary.pass_rates:
        lines.append("programmatic scores, pass rate: "
                     + ", ".join(f"{name} {rate:.1%}" for name, _, rate in summary.pass_rates))
    for evaluator, route, version, n, fail, overall in summary.worst_slices:
        lines.append(f"  worst slice: {evaluator} fails {fail:.0%} on route {route} prompt {version} "
                     f"(n={n}; {overall:.1%} over all routes)")
    if summary.feedback:
        lines.append("user feedback: " + ", ".join(f"{kind} {n}" for kind, n in summary.feedback)
                     + f"; {summary.feedback_unlinked} unlinked (feedback_quarantine)")
    if summary.sessions and summary.sessions[0]:
        closed, turns, escalated, frustrated, repeated = summary.sessions
        lines.append(f"sessions: {closed} closed, {turns:.1f} turns on average; escalated {escalated:.1%}, "
                     f"frustrated {frustrated:.1%}, a question repeated {repeated:.1%}")
    if summary.agent_runs and summary.agent_runs[0]:
        runs, steps, looping, invalid, executions, failed = summary.agent_runs
        lines.append(f"agent runs: {runs}, {steps:.1f} steps on average; looping {looping:.1%}, breaking the declared "
                     f"tools {invalid:.1%}; {executions} tool executions, "
                     + (f"{failed:.1%} failed" if failed is not None else "none recorded"))
    if summary.conversation_judge:
        lines.append("  judged sessions and agent runs, pass rate weighted to them: "
                     + ", ".join(f"{r.rubric} {r.weighted:.1%} (n={r.judged})" for r in summary.conversation_judge))
    if summary.judge:
        lines.append("LLM judge (STAND-IN in the demo), pass rate weighted to traffic: "
                     + ", ".join(f"{r.rubric} {r.weighted:.1%} (n={r.judged}, unweighted {r.raw:.1%})"
                                 for r in summary.judge))
        lines.append("  judge statuses: " + ", ".join(f"{status} {n}" for status, n in summary.judge_statuses))
    for rubric, route, version, n, fail in summary.judge_worst:
        lines.append(f"  worst judged slice: {rubric} fails {fail:.0%} on route {route} prompt {version} (n={n})")
    lines += _calibration_lines(summary)
    lines += [f"drift {day} against its reference: {share:.0%} of columns drifted ({drifted or 'none'})"
              for day, share, drifted in summary.drift]
    if summary.alerts:
        lines.append("alerts (the alerts asset):")
        lines += [f"  {at} {event:<8} [{severity}] {rule}: {message}"
                  for at, event, severity, rule, message in summary.alerts]
    return "\n".join(lines)


def _calibration_lines(summary: LakeSummary) -> list[str]:
    lines = [f"judge calibration ({row['judge_version']}), {row['rubric']}: n={row['n']}, Cohen's kappa "
             f"{row['cohen_kappa']:.2f} [{row['cohen_kappa_low']:.2f}, {row['cohen_kappa_high']:.2f}], accuracy "
             f"{row['accuracy']:.0%}, TPR {row['tpr']:.2f}, TNR {row['tnr']:.2f}"
             + (f", length bias rho {row['length_bias_rho']:.2f}" if row["length_bias_rho"] is not None else "")
             + (f", position consistency {row['position_consistency']:.2f}"
                if row["position_consistency"] is not None else "")
             for row in summary.calibration]
    for rubric, rate in sorted(summary.corrected.items()):
        lines.append(f"  {rubric}: judged pass rate {rate.raw:.1%}, corrected for judge error "
                     + (f"{rate.corrected:.1%} [{rate.interval[0]:.1%}, {rate.interval[1]:.1%}]"
                        if rate.corrected is not None else f"not published: {rate.reason}"))
    if summary.canary:
        day, compared, flips = summary.canary
        lines.append(f"judge canary {day}: {flips}/{compared} verdicts differ from the baseline day"
                     + (" (first day: this is the baseline)" if not compared else ""))
    return lines


def lake_summary(lake: Lake) -> str:
    """What ``eval-pipelines inspect`` prints: rows, quarantine, validation, scores, feedback and the judge."""
    return format_summary(summarize(lake, lake.attach(duckdb.connect())))
