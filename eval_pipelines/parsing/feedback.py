"""Explicit user feedback as it lands: span events, log-record events and JSONL feedback files.

Three shapes are read (see "User feedback" in docs/evaluate.md):
- the event ``eval_pipelines.feedback`` on any span or as a log record, with attributes
  ``feedback.kind`` (thumbs, rating, comment, edit), ``feedback.value``, ``feedback.comment``,
  optional ``feedback.scale``, ``feedback.id``, ``gen_ai.response.id`` and ``user.id``;
- JSONL records in ``landing/feedback/``: ``timestamp``, ``kind``, ``value``, ``comment``, ``scale``,
  ``feedback_id``, ``user_id`` and at least one of ``response_id``, ``span_id``, ``trace_id``;
- OpenInference/Phoenix span annotations in the same folder: ``span_id``, ``name``,
  ``annotator_kind``, ``result: {label, score, explanation}``, ``created_at``.
A record is normalised to a label and a score in [0, 1] (thumbs up = 1, down = 0, rating / scale),
or rejected with a reason.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

from eval_pipelines.parsing.otlp_values import otel_id
from eval_pipelines.parsing.plain import epoch_ns

FEEDBACK_EVENT = "eval_pipelines.feedback"
FEEDBACK_FOLDER = "feedback/"
KINDS = ("thumbs", "rating", "comment", "edit")
MAX_COMMENT_CHARS = 2_000
THUMBS_UP = frozenset({"up", "thumbs_up", "thumbsup", "👍", "positive", "like", "good", "1", "+1", "true", "yes"})
THUMBS_DOWN = frozenset({"down", "thumbs_down", "thumbsdown", "👎", "negative", "dislike", "bad", "0", "-1",
                         "false", "no"})
DEFAULT_SCALE = 5.0


def is_feedback_file(relative_path: str) -> bool:
    return relative_path.startswith(FEEDBACK_FOLDER)


def feedback_time(record: dict[str, Any]) -> int | None:
    for key in ("timestamp", "time", "created_at", "updated_at"):
        if (value := epoch_ns(record.get(key))) is not None:
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text.strip() or None


def _normalise(kind: str, value: Any, scale: Any, comment: str | None) -> tuple[str, float | None] | str:
    """(label, score) for a feedback value, or the reason it cannot be read."""
    if kind == "thumbs":
        token = _text(value)
        token = token.lower() if token else ""
        if token in THUMBS_UP:
            return "up", 1.0
        if token in THUMBS_DOWN:
            return "down", 0.0
        return f"thumbs value {token[:40]!r} is neither up nor down"
    if kind == "rating":
        try:
            rating, top = float(value), float(scale) if scale is not None else DEFAULT_SCALE
        except (TypeError, ValueError):
            return f"rating value {str(value)[:40]!r} (scale {scale!r}) is not a number"
        if not (math.isfinite(rating) and math.isfinite(top) and top > 0 and 0 <= rating <= top):
            return f"rating {rating:g} is outside 0..{top:g}"
        return "rating", rating / top
    if kind == "comment":
        return ("comment", None) if comment or _text(value) else "comment feedback without text"
    if kind == "edit":
        return "edited", None
    return f"unknown feedback kind {kind[:40]!r} (expected {', '.join(KINDS)})"


def _record(kind: str | None, value: Any, scale: Any, comment: Any, time_ns: int | None, span_id: str | None,
            trace_id: str | None, response_id: str | None, user_id: Any, feedback_id: Any,
            source: str) -> dict[str, Any] | str:
    if time_ns is None:
        return "feedback without a valid timestamp"
    if not (span_id or trace_id or response_id):
        return "feedback names no response_id, span_id or trace_id to link it to"
    kind = (_text(kind) or "").lower()
    comment_text = _text(comment)
    normalised = _normalise(kind, value, scale, comment_text)
    if isinstance(normalised, str):
        return normalised
    label, score = normalised
    if kind == "comment" and not comment_text:
        comment_text = _text(value)
    record = {
        "time_ns": time_ns, "kind": kind, "label": label, "score": score,
        "value": _text(value) if kind in ("rating", "edit") else None,
        "comment": comment_text[:MAX_COMMENT_CHARS] if comment_text else None,
        "span_id": span_id, "trace_id": trace_id, "response_id": _text(response_id), "user_id": _text(user_id),
        "source": source,
    }
    record["feedback_id"] = _text(feedback_id) or _derived_id(record)
    return record


def _derived_id(record: dict[str, Any]) -> str:
    """Same feedback landed twice (or in two shapes) gets the same id, so it is kept once."""
    key = {k: record[k] for k in ("time_ns", "kind", "label", "value", "comment", "span_id", "trace_id",
                                  "response_id", "user_id")}
    return "fb-" + hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


def feedback_from_event(attrs: dict[str, Any], time_ns: int | None, span_id: str | None, trace_id: str | None,
                        source: str) -> dict[str, Any] | str:
    """A ``eval_pipelines.feedback`` span event or log record, linked by its own span/trace ids."""
    return _record(attrs.get("feedback.kind"), attrs.get("feedback.value"), attrs.get("feedback.scale"),
                   attrs.get("feedback.comment"), time_ns, span_id, trace_id, attrs.get("gen_ai.response.id"),
                   attrs.get("user.id"), attrs.get("feedback.id"), source)


def feedback_from_record(record: dict[str, Any]) -> dict[str, Any] | str:
    """A line of a feedback file: the documented record, or a Phoenix/OpenInference span annotation."""
    span_id = otel_id(record.get("span_id"), 8) or _text(record.get("span_id"))
    trace_id = otel_id(record.get("trace_id"), 16) or _text(record.get("trace_id"))
    result = record.get("result")
    if isinstance(result, dict):
        label, score = result.get("label"), result.get("score")
        token = (_text(label) or "").lower()
        kind = "thumbs" if token in THUMBS_UP | THUMBS_DOWN else "rating" if score is not None else "comment"
        value = label if kind == "thumbs" else score if kind == "rating" else None
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        comment = result.get("explanation") or (label if kind == "comment" else None)
        return _record(kind, value, metadata.get("scale", 1.0), comment, feedback_time(record), span_id, trace_id,
                       record.get("response_id"), record.get("user_id"), record.get("id"), "annotation_file")
    return _record(record.get("kind"), record.get("value"), record.get("scale"), record.get("comment"),
                   feedback_time(record), span_id, trace_id, record.get("response_id"), record.get("user_id"),
                   record.get("feedback_id"), "feedback_file")
