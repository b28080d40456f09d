"""Judging a sample: one judgement per sampled request and applicable rubric, cached by content.

A judgement's cache key is a hash of the judge version and the exact messages sent, so a request
already judged by the same judge version (same model, pinned version, rubric text, parameters and
redaction) is never sent again, and any change to one of those re-judges it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from eval_pipelines.judge.client import BudgetGate, CallResult, Endpoint, JudgeCall, JudgeRunner, RunStats
from eval_pipelines.judge.prompts import (
    PROMPT_FORMAT,
    JudgeItem,
    applicable,
    injection_markers,
    judge_messages,
    redact_item,
    verdict_schema,
)
from eval_pipelines.judge.replies import parse_reply
from eval_pipelines.judge.rubrics import Rubric
from eval_pipelines.judge.settings import BudgetSettings, JudgeSettings
from eval_pipelines.schemas import JUDGE_SAMPLE, JUDGE_SCORES

CONTENT_COLUMNS = ["span_id", "input_text", "output_text", "tool_calls", "retrieved_context", "system_instructions"]
CACHEABLE_STATUSES = ("ok", "refused")
MAX_CHARS_PER_FIELD = 12_000


def judge_version(endpoint: Endpoint, rubric: Rubric, redact_pii: bool) -> str:
    payload = {"endpoint": endpoint.identity(), "rubric": rubric.canonical_text(), "prompt_format": PROMPT_FORMAT,
               "redact_pii": redact_pii}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def context_text(retrieved_context: str | None) -> str | None:
    """The retrieved documents as ``[id] content`` lines (the lake stores them as a JSON list)."""
    if not retrieved_context:
        return None
    try:
        documents = json.loads(retrieved_context)
    except ValueError:
        return retrieved_context
    if not isinstance(documents, list):
        return retrieved_context
    lines = [f"[{doc.get('id') or i + 1}] {doc.get('content') or ''}" if isinstance(doc, dict) else str(doc)
             for i, doc in enumerate(documents)]
    return "\n".join(lines)


def judge_item(row: dict[str, Any]) -> JudgeItem:
    output = row.get("output_text") or ""
    if row.get("tool_calls"):
        output = f"{output}\n[tool calls] {row['tool_calls']}".strip()
    return JudgeItem(row["span_id"], row.get("input_text") or "", output, context_text(row.get("retrieved_context")),
                     row.get("system_instructions"))


@dataclass
class Judgement:
    sample: dict[str, Any]
    rubric: Rubric
    version: str
    cache_key: str
    call: JudgeCall
    markers: list[str]
    redactions: int
    cached: dict[str, Any] | None = None


@dataclass
class JudgeOutcome:
    scores: pa.Table
    stats: RunStats
    judge_versions: dict[str, str]
    sent: list[bool]  # per row: judged by a call of this run (not reused)

    @property
    def reused(self) -> int:
        return self.sent.count(False)


def plan_judgements(sample: pa.Table, content: pa.Table, rubrics: dict[str, Rubric], settings: JudgeSettings,
                    endpoint: Endpoint, previous: pa.Table | None) -> list[Judgement]:
    """Every (sampled request, rubric for its route that applies to it), with messages and any cached verdict."""
    texts = {row["span_id"]: row for row in content.select(CONTENT_COLUMNS).to_pylist()}
    requests = [(row, judge_item(texts[row["span_id"]]), [rubrics[name] for name in settings.rubrics_for_route(
        row["route"])]) for row in sample.to_pylist()]
    return plan_items(requests, settings.redact_pii, endpoint, verdict_cache(previous))


def plan_items(requests: list[tuple[dict[str, Any], JudgeItem, list[Rubric]]], redact_pii: bool, endpoint: Endpoint,
               cache: dict[str | tuple[str, str], dict[str, Any]]) -> list[Judgement]:
    """Judgements of each item by each of its rubrics that applies to it (``row`` fills the sample columns)."""
    versions: dict[str, str] = {}
    plan = []
    for row, original, item_rubrics in requests:
        markers = injection_markers(original)
        item, redactions = redact_item(original) if redact_pii else (original, 0)
        for rubric in item_rubrics:
            if not applicable(rubric, item):
                continue
            if rubric.name not in versions:
                versions[rubric.name] = judge_version(endpoint, rubric, redact_pii)
            version = versions[rubric.name]
            messages = judge_messages(rubric, item, MAX_CHARS_PER_FIELD)
            key = hashlib.sha256((version + json.dumps(messages, sort_keys=True)).encode()).hexdigest()[:32]
            estimate = sum(len(m["content"]) for m in messages) // 4 + endpoint.max_tokens
            call = JudgeCall(messages, verdict_schema(rubric), estimate)
            cached = cache.get((row.get("span_id"), key)) or cache.get(key)
            plan.append(Judgement(row, rubric, version, key, call, markers, redactions, cached))
    return plan


def verdict_cache(previous: pa.Table | None) -> dict[str | tuple[str, str], dict[str, Any]]:
    """Earlier results that may be reused, by cache key, and by request and cache key (a request's own earlier
    verdict); verdicts only: failures are retried."""
    if previous is None or previous.num_rows == 0:
        return {}
    verdicts = [row for row in previous.to_pylist() if row["status"] in CACHEABLE_STATUSES]
    return {row["cache_key"]: row for row in verdicts} | {(row["span_id"], row["cache_key"]): row for row in verdicts
                                                                 if row.get("span_id")}


def budget_gate(budget: BudgetSettings, spent_calls: int, spent_tokens: int) -> BudgetGate:
    """What this materialization may still spend: its own limit, or what is left of the day's."""
    return BudgetGate(calls=max(0, min(budget.per_partition.calls, budget.per_day.calls - spent_calls)),
                      tokens=max(0, min(budget.per_partition.tokens, budget.per_day.tokens - spent_tokens)))


def run_judgements(plan: list[Judgement], endpoint: Endpoint, gate: BudgetGate,
                   progress: Callable[[int, int], None] | None = None) -> JudgeOutcome:
    """Sends what is not cached (identical messages once), and returns one row per judgement."""
    pending: dict[str, Judgement] = {}
    for judgement in plan:
        if judgement.cached is None:
            pending.setdefault(judgement.cache_key, judgement)
    runner = JudgeRunner(endpoint, gate)
    results = runner.run([judgement.call for judgement in pending.values()], progress)
    now = datetime.now(UTC)
    fresh = {key: _fresh_row(judgement, result, endpoint, now)
             for (key, judgement), result in zip(pending.items(), results, strict=True)}
    rows = [fresh[j.cache_key] if pending.get(j.cache_key) is j else _cached_row(j, j.cached or fresh[j.cache_key])
            for j in plan]
    versions = {j.rubric.name: j.version for j in plan}
    return JudgeOutcome(pa.Table.from_pylist(rows, schema=JUDGE_SCORES), runner.stats, versions,
                        [pending.get(j.cache_key) is j for j in plan])


def _sample_columns(judgement: Judgement) -> dict[str, Any]:
    return {name: judgement.sample[name] for name in JUDGE_SAMPLE.names if name in JUDGE_SCORES.names}


def _identity(judgement: Judgement, endpoint: Endpoint) -> dict[str, Any]:
    return {**_sample_columns(judgement),
            "rubric": judgement.rubric.name, "rubric_version": judgement.rubric.version,
            "judge_version": judgement.version, "judge_model": endpoint.model_version,
            "injection_markers": judgement.markers, "redactions": judgement.redactions,
            "cache_key": judgement.cache_key}


def _cached_row(judgement: Judgement, cached: dict[str, Any]) -> dict[str, Any]:
    """The outcome for the same messages without a call: the request's own earlier row as it was, or another
    request's reused for this one (attempts 0).

    Only a verdict counts as cached; a copy of a failed or skipped call keeps that status.
    """
    identity = {**{name: cached.get(name) for name in JUDGE_SCORES.names}, **_sample_columns(judgement)}
    if cached.get("span_id") and cached.get("span_id") == judgement.sample.get("span_id"):
        return {**identity, "injection_markers": judgement.markers}
    return {**identity, "injection_markers": judgement.markers, "attempts": 0,
            "cached": cached["status"] in CACHEABLE_STATUSES}


def _fresh_row(judgement: Judgement, result: CallResult, endpoint: Endpoint, now: datetime) -> dict[str, Any]:
    row = {**_identity(judgement, endpoint), "cached": False, "attempts": result.attempts,
           "latency_ms": result.latency_ms, "judge_response_model": result.response_model,
           "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
           "cost_usd": endpoint.cost(result.input_tokens, result.output_tokens), "raw_reply": result.text,
           "judged_at": now}
    if result.status != "replied":
        return {**row, "status": result.status, "parse_status": "none", "error": result.error}
    parsed = parse_reply(result.text, judgement.rubric)
    return {**row, "status": parsed.status, "parse_status": parsed.parse_status, "label": parsed.label,
            "score": parsed.score, "passed": parsed.passed, "explanation": parsed.explanation,
            "error": parsed.problem}
