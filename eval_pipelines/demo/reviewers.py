"""The demo's STAND-IN reviewers: they label the review queue's items for helpfulness the way the demo
scenario was staged (a refusal or an empty answer is unhelpful, broken JSON on a JSON route partially
helpful), independently of the judge, and say what was expected. Real labels come from people."""

from __future__ import annotations

from datetime import datetime
from typing import Any

EXPECTED = {
    "unhelpful": "Answer the question with the order's status or a concrete next step; nothing in the policy "
                 "requires a refusal here.",
    "partially_helpful": "Reply with the JSON object the route's instructions ask for, and nothing else.",
}


def demo_label(item: dict[str, Any]) -> str:
    failed = set(item.get("failed_evaluators") or [])
    if failed & {"refusal", "empty_answer"}:
        return "unhelpful"
    if failed & {"json_valid", "json_schema"}:
        return "partially_helpful"
    return "helpful"


def review_labels(queue: list[dict[str, Any]], reviewer: str, labelled_at: datetime) -> list[dict[str, Any]]:
    """One helpfulness label per queued item, in the ``labels/`` JSONL format."""
    return [{"item_id": item["span_id"], "rubric": "helpfulness", "label": (label := demo_label(item)),
             "reviewer_id": reviewer, "timestamp": labelled_at.isoformat(), "comment": EXPECTED.get(label)}
            for item in queue]
