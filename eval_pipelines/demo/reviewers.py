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


def team_results(model: str, versions: list[str], cases: int = 50) -> list[dict[str, Any]]:
    """The team's own offline suite, run before the rollout: every version looked fine (2 in 50 fail)."""
    return [{"item_id": f"suite-{n:03d}", "model": model, "prompt_version": version, "metric": "helpfulness",
             "passed": n % 25 != 0} for version in versions for n in range(cases)]


def replayed_outputs(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each version's candidate outputs for the golden items it produced in production, by file stem (a
    real team runs its candidate on the golden inputs; the demo replays what production answered)."""
    files: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        tags = item["tags"]
        files.setdefault(f"{tags['model']}-{tags['prompt_version']}", []).append(
            {"item_id": item["id"], "model": tags["model"], "prompt_version": tags["prompt_version"],
             "output_text": item["production_output"] or ""})
    return files
