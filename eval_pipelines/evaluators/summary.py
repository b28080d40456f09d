"""What a partition of scores says: pass rates per evaluator, the worst requests, an Evidently report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from eval_pipelines.evidently_html import save_report_html
from eval_pipelines.markdown import markdown_cell


@dataclass(frozen=True)
class PassRate:
    evaluator: str
    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 1.0


def pass_rates(scores: pa.Table) -> list[PassRate]:
    if scores.num_rows == 0:
        return []
    grouped = scores.group_by("evaluator").aggregate([("passed", "sum"), ("passed", "count")])
    rows = sorted(zip(grouped.column("evaluator").to_pylist(), grouped.column("passed_sum").to_pylist(),
                      grouped.column("passed_count").to_pylist(), strict=True))
    return [PassRate(name, passed or 0, total) for name, passed, total in rows]


def worst_examples_markdown(scores: pa.Table, requests: pa.Table, con: duckdb.DuckDBPyConnection,
                            limit: int = 10) -> str:
    """The requests failing the most evaluators, with what failed and an excerpt of the exchange."""
    con.register("scores", scores)
    con.register("requests", requests.select(["span_id", "input_text", "output_text"]))
    failing = con.sql("""
        SELECT s.span_id, any_value(s.route) AS route, count(*) AS failures,
               string_agg(s.evaluator || CASE WHEN s.explanation IS NULL THEN '' ELSE ': ' || s.explanation END,
                          '; ' ORDER BY s.evaluator) AS why
        FROM scores s WHERE NOT s.passed GROUP BY s.span_id
        ORDER BY failures DESC, s.span_id LIMIT $limit""", params={"limit": limit}).to_arrow_table()
    con.register("failing", failing)
    rows = con.sql("""SELECT f.*, r.input_text, r.output_text FROM failing f JOIN requests r USING (span_id)
                      ORDER BY f.failures DESC, f.span_id""").fetchall()
    for name in ("failing", "requests", "scores"):
        con.unregister(name)
    if not rows:
        return "Every request passed every evaluator."
    lines = ["| span | route | failed | question | answer |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join([f"`{span}`", markdown_cell(route), markdown_cell(why, 160), markdown_cell(question),
                                 markdown_cell(answer)]) + " |"
              for span, route, _, why, question, answer in rows]
    return "\n".join(lines)


def wide_scores(scores: pa.Table, con: duckdb.DuckDBPyConnection) -> pa.Table:
    """One row per request: ``<evaluator>_score`` and ``<evaluator>_label`` columns."""
    con.register("scores", scores)
    wide = con.sql("""PIVOT (SELECT span_id, replace(evaluator, '.', '_') AS evaluator, score, label FROM scores)
                      ON evaluator USING first(score) AS score, first(label) AS label
                      GROUP BY span_id ORDER BY span_id""").to_arrow_table()
    con.unregister("scores")
    return wide


def write_text_evals_report(wide: pa.Table, path: Path) -> Path:
    """Evidently's TextEvals preset over the computed labels, and the scores that say more than their label
    (nothing recomputed). A 0/1 score repeats its pass/fail label, and each column costs the report ~60 ms."""
    # Imported here: evidently takes seconds to import, and code locations load this package.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import TextEvals

    frame = wide.to_pandas()
    numerical = [c for c in frame.columns if c.endswith("_score") and not frame[c].dropna().isin((0.0, 1.0)).all()]
    categorical = [c for c in frame.columns if c.endswith("_label")]
    dataset = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=numerical,
                                                                        categorical_columns=categorical))
    snapshot = Report([TextEvals(columns=numerical + categorical)]).run(dataset, None)
    return save_report_html(snapshot, path)
