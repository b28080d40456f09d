"""The human review queue of one hour: hard cases first, a random control sample kept apart,
duplicates and near-duplicates dropped, within the day's and the hour's caps.

Hard cases (``reasons`` in the settings, each with a priority): thumbs-down, a failing judge verdict,
the judge passing what a programmatic check failed, the slice of an open incident, and a judge score
on the pass boundary. The control sample is the ``n`` requests with the smallest
``blake2b(seed, span_id)`` among ALL the hour's requests (simple random sampling without replacement,
inclusion probability n/N, like the judge sample): reviewers' labels on it measure the judge without
the selection bias of the hard cases, so it is marked ``control`` and drawn before the hard cases.
Near-duplicates: MinHash (datasketch) over word 3-grams of the normalised question and answer (case,
whitespace and digits folded), Jaccard at or above the threshold; the first in priority order stays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from datasketch import MinHash, MinHashLSH

from eval_pipelines.judge.conversations import session_item
from eval_pipelines.judge.prompts import JudgeItem
from eval_pipelines.judge.sampling import draw
from eval_pipelines.review.settings import REASONS, ReviewSettings

MINHASH_PERMUTATIONS = 64


@dataclass(frozen=True)
class AlertWindow:
    """An incident open during the hour, and the slice that explains it (``{"route": "/orders", …}``)."""

    key: str
    slice: dict[str, str]


def open_windows(alerts: Iterable[dict], hour: datetime, rules: set[str]) -> list[AlertWindow]:
    """The incidents of ``rules`` open during ``hour`` (opened at or before it, not resolved by then), each
    with the slice that explains it (its attribution, else the breaching slice)."""
    opened: dict[str, dict] = {}
    for row in sorted(alerts, key=lambda r: (r["hour_start"], r["event"] == "opened")):
        if row["rule"] not in rules or row["hour_start"] > hour:
            continue
        if row["event"] == "opened":
            opened[row["key"]] = row
        elif row["event"] == "resolved":
            opened.pop(row["key"], None)
    return [AlertWindow(key, parse_slice(json.loads(row["details"] or "{}").get("explained_by") or row["slice"]))
            for key, row in sorted(opened.items())]


def parse_slice(text: str | None) -> dict[str, str]:
    """``"route=/orders, prompt_version=v7"`` as a mapping (``total`` and empty mean everything)."""
    if not text or text == "total":
        return {}
    return dict(part.split("=", 1) for part in text.split(", ") if "=" in part)


@dataclass
class Candidate:
    request: dict
    reasons: list[str] = field(default_factory=list)
    alert_keys: list[str] = field(default_factory=list)
    control: bool = False
    inclusion_probability: float | None = None

    def priority(self, settings: ReviewSettings) -> int:
        ranks = [settings.reasons[reason] for reason in self.reasons if reason in settings.reasons]
        return min(ranks) if ranks else len(REASONS) + 1


def _model(request: dict) -> str | None:
    return request.get("response_model") or request.get("request_model")


def _in_window(request: dict, window: AlertWindow) -> bool:
    values = {"route": request.get("route"), "prompt_version": request.get("prompt_version"), "model": _model(request)}
    return all(values.get(dimension) == value for dimension, value in window.slice.items())


def hard_case_reasons(requests: list[dict], scores: Iterable[dict], verdicts: Iterable[dict],
                      feedback: Iterable[dict], windows: list[AlertWindow],
                      settings: ReviewSettings) -> dict[str, Candidate]:
    """Every request with at least one configured reason, by span id."""
    by_span = {r["span_id"]: r for r in requests}
    found: dict[str, Candidate] = {}

    def mark(span_id: str, reason: str) -> None:
        if span_id in by_span and reason in settings.reasons:
            candidate = found.setdefault(span_id, Candidate(by_span[span_id]))
            if reason not in candidate.reasons:
                candidate.reasons.append(reason)

    for row in feedback:
        if row.get("kind") == "thumbs" and row.get("label") == "down":
            mark(row["span_id"], "thumbs_down")
    ok = [v for v in verdicts if v.get("status") == "ok"]
    for verdict in ok:
        if verdict.get("passed") is False:
            mark(verdict["span_id"], "judge_fail")
        if verdict.get("score") in settings.low_confidence_scores:
            mark(verdict["span_id"], "low_confidence")
    failed_checks = {row["span_id"] for row in scores
                     if row.get("passed") is False and row.get("evaluator") in settings.disagreement_evaluators}
    judged_passing = {v["span_id"] for v in ok if v.get("passed")} - {v["span_id"] for v in ok if not v.get("passed")}
    for span_id in judged_passing & failed_checks:
        mark(span_id, "judge_disagrees")
    for window in windows:
        for request in requests:
            if _in_window(request, window):
                mark(request["span_id"], "alert_window")
                found[request["span_id"]].alert_keys.append(window.key)
    return found


def normalised(text: str | None) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\d", "0", (text or "").casefold())).strip()


def dedup_key(request: dict) -> str:
    return f"{normalised(request.get('input_text'))}\x1f{normalised(request.get('output_text'))}"


def _minhash(key: str) -> MinHash:
    words = key.split()
    shingles = {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}
    signature = MinHash(num_perm=MINHASH_PERMUTATIONS)
    for shingle in shingles:
        signature.update(shingle.encode())
    return signature


class Deduplicator:
    """Exact (normalised) and near-duplicate detection against everything already kept."""

    def __init__(self, threshold: float) -> None:
        self.index = MinHashLSH(threshold=threshold, num_perm=MINHASH_PERMUTATIONS)
        self.names: dict[str, str] = {}

    def duplicate_of(self, key: str) -> str | None:
        """The name of a kept key that ``key`` (nearly) repeats, if any."""
        if key in self.names:
            return self.names[key]
        similar = self.index.query(_minhash(key))
        return min(similar) if similar else None

    def keep(self, key: str, name: str | None = None) -> bool:
        """Keep ``key`` (known as ``name``) unless it (nearly) repeats a kept one; returns whether it was kept."""
        if self.duplicate_of(key) is not None:
            return False
        name = name or str(len(self.names))
        self.index.insert(name, _minhash(key))
        self.names[key] = name
        return True


def version_of(row: dict) -> str:
    """The prompt version × model a request (or queue row) was answered by."""
    return f"{row.get('prompt_version')}\x1f{row.get('model') or _model(row)}"


class VersionDeduplicator:
    """One :class:`Deduplicator` per prompt version × model: the same exchange under a new version is a
    new observation of that version (a rollout's failures must reach the reviewers even when an earlier
    version gave the same answer to the same question)."""

    def __init__(self, threshold: float, kept: Iterable[dict] = ()) -> None:
        self.threshold = threshold
        self.by_version: dict[str, Deduplicator] = {}
        for row in kept:
            self.keep(row)

    def keep(self, row: dict) -> bool:
        version = version_of(row)
        if version not in self.by_version:
            self.by_version[version] = Deduplicator(self.threshold)
        return self.by_version[version].keep(row.get("dedup_key") or dedup_key(row))


def select(requests: list[dict], hard_cases: dict[str, Candidate], settings: ReviewSettings, places: int,
           kept: Iterable[dict] = ()) -> list[Candidate]:
    """Up to ``places`` items: the control draw first (its share of the places), then hard cases by
    priority, then time; (near-)duplicates, under the same version, of anything kept (``kept``: earlier
    queue rows, or earlier in this list) are skipped."""
    if places <= 0 or not requests:
        return []
    deduplicator = VersionDeduplicator(settings.near_duplicate_jaccard, kept)
    control_n = min(len(requests), round(places * settings.control_share))
    drawn = sorted(requests, key=lambda r: draw(settings.seed, r["span_id"]))[:control_n]
    chosen: list[Candidate] = []
    for request in drawn:
        if deduplicator.keep(request):
            candidate = hard_cases.get(request["span_id"]) or Candidate(request)
            candidate.control, candidate.inclusion_probability = True, control_n / len(requests)
            chosen.append(candidate)
    ranked = sorted((c for c in hard_cases.values() if not c.control),
                    key=lambda c: (c.priority(settings), str(c.request.get("start_time")), c.request["span_id"]))
    for candidate in ranked:
        if len(chosen) >= places:
            break
        if deduplicator.keep(candidate.request):
            chosen.append(candidate)
    return chosen


def conversation_units(sessions: list[dict], runs: list[dict], steps: dict[str, JudgeItem]) -> list[dict]:
    """Judged sessions and agent runs as queue items: a session's transcript is its input; an agent run's request is
    its input and its ``steps`` (by trace id) its output."""
    units = [{"span_id": row["session_key"], "session_id": row["session_id"], "start_time": row["closed_at"],
              "route": row["route"], "prompt_version": row["prompt_version"], "request_model": row["request_model"],
              "response_model": row["response_model"], "input_text": session_item(row).input, "output_text": "",
              "unit": "session"} for row in sessions]
    units += [{"span_id": run["trace_id"], "trace_id": run["trace_id"], "session_id": run["session_id"],
               "start_time": run["first_time"], "route": run["route"], "prompt_version": run["prompt_version"],
               "request_model": run["request_model"], "response_model": run["response_model"],
               "input_text": steps[run["trace_id"]].input, "output_text": steps[run["trace_id"]].output,
               "unit": "agent_run"} for run in runs if run["trace_id"] in steps]
    return units


def queue_row(candidate: Candidate, settings: ReviewSettings, verdicts: list[dict], failed: list[str]) -> dict:
    """One row of the ``review_queue`` table."""
    request = candidate.request
    return {"span_id": request["span_id"], "unit": request.get("unit", "call"), "trace_id": request.get("trace_id"),
            "session_id": request.get("session_id"), "start_time": request.get("start_time"),
            "route": request.get("route"), "prompt_version": request.get("prompt_version"), "model": _model(request),
            "input_text": request.get("input_text"), "output_text": request.get("output_text"),
            "input_messages": request.get("input_messages"), "retrieved_context": request.get("retrieved_context"),
            "reasons": sorted(candidate.reasons, key=lambda r: settings.reasons.get(r, 99)),
            "priority": candidate.priority(settings), "control": candidate.control,
            "inclusion_probability": candidate.inclusion_probability, "alert_keys": candidate.alert_keys,
            "failed_evaluators": failed,
            "judge_verdicts": json.dumps([{k: v.get(k) for k in ("rubric", "label", "score", "passed", "explanation")}
                                          for v in verdicts]),
            "dedup_key": dedup_key(request)}
