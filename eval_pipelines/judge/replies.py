"""Turning a judge's reply into a verdict, whatever shape the endpoint answered in.

Accepted, in order: a JSON object (``json``), JSON inside a Markdown fence (``fenced_json``), the
first JSON object inside prose (``embedded_json``), and ``label: <name>`` lines (``text_label``).
A reply that declines to judge is ``refused``; anything else is ``unparseable``. A label outside the
rubric or a score off its scale makes the verdict ``invalid``. The raw reply is always kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from eval_pipelines.judge.rubrics import Rubric

_FENCE = re.compile(r"```(?:json|JSON)?\s*(\{.*?\})\s*```", re.DOTALL)
_LABEL_LINE = re.compile(r"^\W*(?:label|verdict|category)\W*[:=]\s*\W*([A-Za-z_ ]+?)\W*$", re.IGNORECASE | re.MULTILINE)
_SCORE_LINE = re.compile(r"^\W*score\W*[:=]\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE | re.MULTILINE)
_REFUSAL = re.compile(r"^\W*(?:i'?m sorry|sorry|i (?:can(?:no|')t|cannot|won'?t|am unable|'m unable)|"
                      r"as an ai|i must decline)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedReply:
    status: str  # ok | invalid | refused | unparseable
    parse_status: str  # json | fenced_json | embedded_json | text_label | none
    label: str | None = None
    score: float | None = None
    passed: bool | None = None
    explanation: str | None = None
    problem: str | None = None


def _first_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _structured(text: str) -> tuple[dict[str, Any] | None, str]:
    try:
        value = json.loads(text)
        if isinstance(value, dict):
            return value, "json"
    except ValueError:
        pass
    fenced = _FENCE.search(text)
    if fenced:
        try:
            value = json.loads(fenced.group(1))
            if isinstance(value, dict):
                return value, "fenced_json"
        except ValueError:
            pass
    embedded = _first_object(text)
    if embedded is not None:
        return embedded, "embedded_json"
    label = _LABEL_LINE.search(text)
    if label:
        score = _SCORE_LINE.search(text)
        return {"label": label.group(1), "score": float(score.group(1)) if score else None,
                "explanation": text.strip()}, "text_label"
    return None, "none"


def _label(value: Any, rubric: Rubric) -> str | None:
    if not isinstance(value, str):
        return None
    normalised = re.sub(r"[\s-]+", "_", value.strip().lower())
    return normalised if normalised in rubric.label_names else None


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_reply(text: str | None, rubric: Rubric) -> ParsedReply:
    if not text or not text.strip():
        return ParsedReply("unparseable", "none", problem="empty reply")
    data, shape = _structured(text)
    if data is None:
        if _REFUSAL.search(text):
            return ParsedReply("refused", "none", explanation=text.strip()[:500], problem="the judge declined")
        return ParsedReply("unparseable", "none", problem="no JSON object or label line in the reply")
    explanation = data.get("explanation") or data.get("reasoning") or data.get("reason")
    explanation = str(explanation) if explanation is not None else None
    raw_label = data.get("label", data.get("verdict", data.get("category")))
    label = _label(raw_label, rubric)
    score = _score(data.get("score"))
    if label is None:
        return ParsedReply("invalid", shape, score=score, explanation=explanation,
                           problem=f"label {str(raw_label)[:60]!r} is not one of {rubric.label_names}")
    if score is not None and not rubric.score.min <= score <= rubric.score.max:
        return ParsedReply("invalid", shape, label=label, explanation=explanation,
                           problem=f"score {score:g} is outside {rubric.score.min}..{rubric.score.max}")
    return ParsedReply("ok", shape, label=label, score=score, passed=rubric.passed(label), explanation=explanation)
