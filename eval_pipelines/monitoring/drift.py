"""Daily drift: one UTC day of requests against a reference period, with Evidently's drift tests.

Each request becomes a row of descriptors: the input's length, words, language and topic, the
answer's length, whether it refused and whether its JSON parsed (from the programmatic scores), the
model, prompt version and route, and the texts themselves (Evidently's text drift: a domain classifier
telling the two periods apart, ROC AUC as the score). Both sides are sampled uniformly in DuckDB down
to ``max_rows``, because the classifier is the expensive part; the report and its result say how
many rows were used out of how many.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import Field, model_validator

from eval_pipelines.config import SettingsFile, SettingsModel, load_config
from eval_pipelines.evaluators.builtin.text import detect_language
from eval_pipelines.evidently_html import save_report_html
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.slis import daily_rows

DRIFT_FILE = SettingsFile("drift.yaml", "EVAL_PIPELINES_DRIFT")
NUMERICAL = ["input_chars", "input_words", "output_chars"]
CATEGORICAL = ["input_language", "input_topic", "refused", "json_valid", "response_model", "prompt_version", "route"]
SAMPLE_SEED = 20261122


class Reference(SettingsModel):
    days: int = Field(default=7, ge=1, le=90)
    """The N days before the reported day ..."""
    start: date | None = None
    """... or a pinned period from this UTC day ..."""
    end: date | None = None
    """... to this one (both inclusive)."""

    @model_validator(mode="after")
    def _pinned_needs_both_ends(self) -> Reference:
        if (self.start is None) != (self.end is None):
            raise ValueError("a pinned reference needs both start and end")
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self

    def period(self, day: date) -> tuple[date, date]:
        """The reference days for ``day`` (both inclusive)."""
        if self.start and self.end:
            return self.start, self.end
        return day - timedelta(days=self.days), day - timedelta(days=1)


class DriftSettings(SettingsModel):
    reference: Reference = Reference()
    """The period the day is compared with."""
    max_rows: int = Field(default=5000, ge=100)
    """Each side is sampled uniformly down to this many requests for text drift (the report says so)."""
    text_columns: list[Literal["input_text", "output_text"]] = ["input_text", "output_text"]
    """The texts whose drift is measured (a domain classifier's ROC AUC)."""
    methods: dict[Literal["numerical", "categorical", "text"], str] = {
        "numerical": "wasserstein", "categorical": "jensenshannon", "text": "abs_text_content_drift"}
    """Evidently's drift method per column kind: distances, not p-values."""
    thresholds: dict[Literal["numerical", "categorical", "text"], float] = {"numerical": 0.1, "categorical": 0.1,
                                                                          "text": 0.55}
    """The distance (or ROC AUC for texts) above which a column drifted."""
    topics: dict[str, list[str]] = {}
    """Topic to keywords: the input's topic is the first with a keyword in the question (case-insensitive), else
    `other`."""
    languages: list[str] = []
    """Candidate input languages (py3langid); empty: all."""


def load_drift_settings(path: Path | None = None) -> DriftSettings:
    return load_config(path or DRIFT_FILE.path(), DriftSettings)


@dataclass(frozen=True)
class Side:
    frame: pd.DataFrame
    total_rows: int
    start: date
    end: date

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.total_rows


def _hour_range(start: date, end: date) -> tuple[str, str]:
    return f"{start.isoformat()}-00:00", f"{end.isoformat()}-23:00"


def read_side(lake: Lake, con: duckdb.DuckDBPyConnection, start: date, end: date, settings: DriftSettings) -> Side:
    """The requests of the days ``start``..``end`` as descriptor rows, sampled down to ``max_rows``."""
    traces = lake.scan_existing("traces")
    if traces is None:
        return Side(pd.DataFrame(columns=NUMERICAL + CATEGORICAL + settings.text_columns), 0, start, end)
    first, last = _hour_range(start, end)
    where = "hour BETWEEN $first AND $last"
    total = con.execute(f"SELECT count(*) FROM {traces} WHERE {where}", {"first": first, "last": last}).fetchall()[0][0]
    scores = lake.scan_existing("programmatic_scores")
    verdicts = (f"""SELECT span_id, bool_or(NOT passed) FILTER (WHERE evaluator = 'refusal') AS refused,
                          bool_or(passed) FILTER (WHERE evaluator = 'json_valid') AS json_ok
                   FROM {scores} WHERE {where} AND evaluator IN ('refusal', 'json_valid') GROUP BY span_id"""
                if scores else "SELECT NULL::VARCHAR AS span_id, NULL::BOOLEAN AS refused, NULL::BOOLEAN AS json_ok")
    frame = con.execute(f"""
        WITH sampled AS (
            SELECT * FROM (SELECT span_id, input_text, output_text, response_model, prompt_version, route
                           FROM {traces} WHERE {where})
            USING SAMPLE reservoir({settings.max_rows} ROWS) REPEATABLE ({SAMPLE_SEED})),
        verdicts AS ({verdicts})
        SELECT coalesce(input_text, '') AS input_text, coalesce(output_text, '') AS output_text,
               length(coalesce(input_text, '')) AS input_chars,
               len(regexp_extract_all(coalesce(input_text, ''), '\\w+')) AS input_words,
               length(coalesce(output_text, '')) AS output_chars,
               CASE WHEN refused IS NULL THEN 'n/a' WHEN refused THEN 'yes' ELSE 'no' END AS refused,
               CASE WHEN json_ok IS NULL THEN 'n/a' WHEN json_ok THEN 'valid' ELSE 'invalid' END AS json_valid,
               coalesce(response_model, 'unknown') AS response_model,
               coalesce(prompt_version, 'unknown') AS prompt_version, coalesce(route, 'unknown') AS route
        FROM sampled LEFT JOIN verdicts USING (span_id)
        ORDER BY input_text, output_text""", {"first": first, "last": last}).df()
    frame["input_language"] = [detect_language(text, tuple(settings.languages)) for text in frame.input_text]
    frame["input_topic"] = [topic_of(text, settings.topics) for text in frame.input_text]
    return Side(frame, int(total), start, end)


def topic_of(text: str, topics: dict[str, list[str]]) -> str:
    lowered = text.lower()
    return next((topic for topic, words in topics.items() if any(word.lower() in lowered for word in words)), "other")


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftResult:
    day: date
    drift_share: float
    columns: list[ColumnDrift]
    current: Side
    reference: Side
    snapshot: Any  # Evidently's Snapshot, for its workspace

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def summary(self) -> str:
        return (f"drift {self.day}: {len(self.drifted_columns)}/{len(self.columns)} columns drifted "
                f"({self.drift_share:.0%}) against {self.reference.start}..{self.reference.end}"
                + (f": {', '.join(self.drifted_columns)}" if self.drifted_columns else ""))


def compare(current: Side, reference: Side, settings: DriftSettings, day: date, html_path: Path | None = None
            ) -> DriftResult:
    """Evidently's DataDriftPreset over the descriptor columns (and the texts); optionally its HTML."""
    # Imported here: evidently takes seconds to import, and code locations load this package.
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL,
                                text_columns=list(settings.text_columns))
    preset = DataDriftPreset(num_method=settings.methods.get("numerical"),
                             cat_method=settings.methods.get("categorical"), text_method=settings.methods.get("text"),
                             num_threshold=settings.thresholds.get("numerical"),
                             cat_threshold=settings.thresholds.get("categorical"),
                             text_threshold=settings.thresholds.get("text"))
    columns = NUMERICAL + CATEGORICAL + list(settings.text_columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the text classifier's convergence chatter
        snapshot = Report([preset]).run(Dataset.from_pandas(current.frame[columns], data_definition=definition),
                                        Dataset.from_pandas(reference.frame[columns], data_definition=definition),
                                        timestamp=_day_start(day), tags=["drift"])
    metrics = snapshot.dict()["metrics"]
    drifts = [_column_drift(m) for m in metrics if m["config"]["type"].endswith(":ValueDrift")]
    share = next(m["value"]["share"] for m in metrics if m["config"]["type"].endswith(":DriftedColumnsCount"))
    result = DriftResult(day, float(share), drifts, current, reference, snapshot)
    if html_path is not None:
        save_report_html(snapshot, html_path, banner=_banner(result))
    return result


def _column_drift(metric: dict) -> ColumnDrift:
    config, score = metric["config"], float(metric["value"])
    threshold = float(config["threshold"])
    # p-value methods drift below their threshold, distances and the text classifier above it.
    drifted = score < threshold if "p_value" in config["method"] else score >= threshold
    return ColumnDrift(config["column"], config["method"], score, threshold, drifted)


def _banner(result: DriftResult) -> str:
    """What was compared, and the sampling, for the top of Evidently's page."""
    def side(name: str, s: Side) -> str:
        used = f"{len(s.frame)} of {s.total_rows} requests" + (" (uniform sample)" if s.sampled else "")
        return f"{name}: {s.start} to {s.end}, {used}"

    return (f'<div style="font-family:sans-serif;padding:12px;background:#fff8e1;border-bottom:1px solid #e0c060">'
            f"<b>{html.escape(result.summary())}</b><br>{html.escape(side('Current', result.current))}; "
            f"{html.escape(side('Reference', result.reference))}. Text drift is a classifier trained on the "
            f"sampled texts (ROC AUC); descriptors are computed on the same sample.</div>")


def drift_rows(result: DriftResult) -> pa.Table:
    """The result as SLI rows for the alert rules: ``drift_share``, and per column ``drift_score_<column>``
    and ``drift_detected_<column>`` (1 or 0)."""
    rows = [{"sli": "drift_share", "value": result.drift_share}]
    rows += [{"sli": f"drift_score_{c.column}", "value": c.score} for c in result.columns]
    rows += [{"sli": f"drift_detected_{c.column}", "value": float(c.drifted)} for c in result.columns]
    return daily_rows(_day_start(result.day), rows)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
