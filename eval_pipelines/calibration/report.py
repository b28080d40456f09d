"""A calibration run: the judge's verdicts on labelled items compared with the humans', per rubric and slice.

Items are production spans (content from ``traces``) or seed/golden items (content in their files).
Slices: ``all`` and each route with at least ``min_slice`` resolved items. Ties between reviewers and
items without a judge verdict are left out (and counted). Length bias: Spearman's rho between the
judge-minus-human score difference and the answer's length; a judge that rewards length shows a
positive rho with a small p-value. Position bias (pairwise rubrics): each pair is judged again with
the answers swapped; consistency is the share of pairs whose verdict survives the swap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy import stats

from eval_pipelines.calibration.agreement import agreement, binary_rates
from eval_pipelines.calibration.statistics import (
    CanaryComparison,
    CorrectedRate,
    ordinal_agreement,
    position_bias,
    reviewer_agreement,
    rogan_gladen,
)
from eval_pipelines.config import packaged_default
from eval_pipelines.judge.conversations import transcript_text
from eval_pipelines.judge.prompts import JudgeItem
from eval_pipelines.judge.rubrics import PAIRWISE_SWAP
from eval_pipelines.judge.run import context_text
from eval_pipelines.judge.summary import WeightedRate
from eval_pipelines.monitoring.slis import daily_rows
from eval_pipelines.schemas import JUDGE_CALIBRATION

MIN_SLICE = 30


@dataclass(frozen=True)
class CalibrationItem:
    item_id: str
    route: str | None
    item: JudgeItem


def item_from_record(record: dict[str, Any]) -> CalibrationItem:
    """An item of a seed, canary or golden file: ``item_id``, ``input``, ``output``, optional ``context``
    (text or the lake's JSON list of documents), ``system``, ``route``, and ``output_b`` for pairs. A whole
    conversation has a ``transcript`` (a list of ``user`` and ``assistant`` turns) instead; an agent run has the
    ``input`` and its ``steps`` (text, one line per step)."""
    item_id = str(record["item_id"])
    if "transcript" in record:
        transcript = record["transcript"]
        return CalibrationItem(item_id, record.get("route"), JudgeItem(item_id, transcript_text(
            transcript if isinstance(transcript, str) else json.dumps(transcript)), "", unit="session"))
    if "steps" in record:
        return CalibrationItem(item_id, record.get("route"), JudgeItem(
            item_id, str(record.get("input") or ""), str(record["steps"] or ""), unit="agent_run"))
    return CalibrationItem(item_id, record.get("route"), JudgeItem(
        item_id, str(record.get("input") or ""), str(record.get("output") or ""),
        context_text(record.get("context")), record.get("system"), record.get("output_b")))


def read_items(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def seed_items() -> dict[str, CalibrationItem]:
    """The packaged, illustrative calibration items (see docs/trust-the-judge.md: they are synthetic)."""
    items = (item_from_record(r) for r in read_items(packaged_default("calibration") / "seed_items.jsonl"))
    return {item.item_id: item for item in items}


def _interval(row: dict[str, Any], name: str, value: float, interval: tuple[float, float] | None) -> None:
    row[name] = value
    row[f"{name}_low"], row[f"{name}_high"] = interval or (None, None)


def _length_bias(judge_scores: np.ndarray, human_scores: np.ndarray, lengths: np.ndarray) -> tuple[float | None,
                                                                                                   float | None]:
    difference = judge_scores - human_scores
    if difference.size < 10 or np.unique(difference).size < 2 or np.unique(lengths).size < 2:
        return None, None
    result = stats.spearmanr(difference, lengths)
    return float(result.statistic), float(result.pvalue)


def _slice_row(pairs: list[dict[str, Any]], resamples: int) -> dict[str, Any]:
    human = [p["human_label"] for p in pairs]
    judged = [p["judge_label"] for p in pairs]
    result = agreement(human, judged, resamples=resamples)
    row: dict[str, Any] = {"n": result.n, "macro_precision": result.macro_precision,
                           "macro_recall": result.macro_recall, "labels": [str(label) for label in result.labels],
                           "confusion": json.dumps(result.confusion_dict())}
    for name in ("accuracy", "cohen_kappa", "macro_f1"):
        _interval(row, name, getattr(result, name), result.intervals.get(name))
    rates = binary_rates([p["human_passed"] for p in pairs], [p["judge_passed"] for p in pairs], resamples=resamples)
    _interval(row, "tpr", rates.tpr, rates.intervals.get("tpr"))
    _interval(row, "tnr", rates.tnr, rates.intervals.get("tnr"))
    row |= {"n_pass": rates.n_pass, "n_fail": rates.n_fail, "youden_j": rates.youden_j}
    scored = [p for p in pairs if p["human_score"] is not None and p["judge_score"] is not None]
    row["n_scored"] = len(scored)
    if len(scored) > 2:
        human_scores = np.array([p["human_score"] for p in scored])
        judge_scores = np.array([p["judge_score"] for p in scored])
        ordinal = ordinal_agreement(human_scores, judge_scores, resamples=resamples // 2)
        row |= {"spearman": ordinal.spearman, "kendall": ordinal.kendall}
        _interval(row, "krippendorff_alpha", ordinal.krippendorff_alpha, ordinal.intervals.get("krippendorff_alpha"))
        rho, p_value = _length_bias(judge_scores, human_scores, np.array([p["length"] for p in scored]))
        row |= {"length_bias_rho": rho, "length_bias_p": p_value}
    return row


def calibration_rows(resolved: pa.Table, labels: pa.Table, judged: pa.Table, items: dict[str, CalibrationItem],
                     run_time: datetime, swapped: pa.Table | None = None, resamples: int = 1000) -> pa.Table:
    """History rows (schema ``JUDGE_CALIBRATION``) for one run over the judge's verdicts ``judged``;
    ``swapped`` holds pairwise verdicts on the same pairs shown in the other order (labels as given)."""
    verdicts = {(r["span_id"], r["rubric"]): r for r in judged.to_pylist() if r["status"] == "ok"}
    reversed_verdicts = {(r["span_id"], r["rubric"]): r["label"] for r in
                         (swapped.to_pylist() if swapped is not None else []) if r["status"] == "ok"}
    by_rubric: dict[str, list[dict[str, Any]]] = {}
    ties: dict[str, int] = {}
    for human in resolved.to_pylist():
        verdict = verdicts.get((human["item_id"], human["rubric"]))
        ties[human["rubric"]] = ties.get(human["rubric"], 0) + bool(human["tie"])
        if human["label"] is None or verdict is None or human["item_id"] not in items:
            continue
        item = items[human["item_id"]]
        by_rubric.setdefault(human["rubric"], []).append({
            "human_label": human["label"], "judge_label": verdict["label"], "human_passed": human["passed"],
            "judge_passed": verdict["passed"], "human_score": human["score"], "judge_score": verdict["score"],
            "length": len(item.item.output), "route": item.route or "(none)",
            "reversed": reversed_verdicts.get((human["item_id"], human["rubric"])),
            "judge_version": verdict["judge_version"], "judge_model": verdict["judge_model"]})
    reviewers = _reviewer_labels(labels)
    rows = []
    for rubric, pairs in sorted(by_rubric.items()):
        items_shared, percent, alpha = reviewer_agreement(reviewers.get(rubric, {}))
        common = {"run_time": run_time, "judge_version": pairs[0]["judge_version"],
                  "judge_model": pairs[0]["judge_model"], "rubric": rubric, "reviewer_items": items_shared,
                  "reviewer_agreement": percent, "reviewer_alpha": alpha, "ties": ties.get(rubric, 0)}
        slices = {"all": pairs}
        for route in sorted({p["route"] for p in pairs}):
            subset = [p for p in pairs if p["route"] == route]
            if len(subset) >= MIN_SLICE and len(subset) < len(pairs):
                slices[f"route={route}"] = subset
        rows += [{**common, "slice": name, **_slice_row(subset, resamples), **_position_columns(subset)}
                 for name, subset in slices.items()]
    return pa.Table.from_pylist(rows, schema=JUDGE_CALIBRATION)


def _position_columns(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    probed = [p for p in pairs if p["reversed"] is not None]
    if not probed:
        return {}
    bias = position_bias([p["judge_label"] for p in probed], [PAIRWISE_SWAP.get(p["reversed"], p["reversed"])
                                                              for p in probed])
    return {"position_pairs": bias.pairs, "position_consistency": bias.consistency,
            "first_position_rate": bias.first_position_rate}


def _reviewer_labels(labels: pa.Table) -> dict[str, dict[str, dict[str, str]]]:
    by_rubric: dict[str, dict[str, dict[str, str]]] = {}
    for row in labels.to_pylist():
        if row["label"]:
            by_rubric.setdefault(row["rubric"], {}).setdefault(row["item_id"], {})[row["reviewer_id"]] = row["label"]
    return by_rubric


def latest_calibration(con: duckdb.DuckDBPyConnection, source: str | None,
                       judge_versions: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The most recent overall calibration row per rubric, for the given judge versions only."""
    if source is None or not judge_versions:
        return {}
    rows = con.sql(f"""
        SELECT * EXCLUDE (rank) FROM (
            SELECT *, row_number() OVER (PARTITION BY rubric ORDER BY run_time DESC) AS rank FROM {source}
            WHERE slice = 'all' AND list_contains($versions, judge_version))
        WHERE rank = 1""", params={"versions": list(judge_versions.values())}).to_arrow_table().to_pylist()
    return {row["rubric"]: row for row in rows if judge_versions.get(row["rubric"]) == row["judge_version"]}


def corrected_rates(rates: list[WeightedRate], calibration: dict[str, dict[str, Any]]) -> dict[str, CorrectedRate]:
    """Each rubric's weighted pass rate corrected for the judge's error, where a calibration exists."""
    corrected = {}
    for rate in rates:
        row = calibration.get(rate.rubric)
        if row is not None:
            corrected[rate.rubric] = rogan_gladen(rate.weighted, rate.effective_n, row["tpr"], row["n_pass"],
                                                  row["tnr"], row["n_fail"])
    return corrected


def canary_rows(day_start: datetime, comparison: CanaryComparison) -> pa.Table:
    """The canary's result as daily SLI rows for the alert rules: ``canary_changed`` (1 or 0),
    ``canary_flip_rate`` (flips / compared items) and ``canary_mean_score_shift``."""
    return daily_rows(day_start, [
        {"sli": "canary_changed", "value": float(comparison.changed)},
        {"sli": "canary_flip_rate", "numerator": float(comparison.flips), "denominator": float(comparison.items),
         "value": comparison.flip_rate if comparison.items else None},
        {"sli": "canary_mean_score_shift", "value": comparison.mean_score_shift},
    ])
