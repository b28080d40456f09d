"""The review queue for reviewers: label templates (JSONL, CSV) that come back through ``<home>/labels``
as they are once filled in, and Label Studio's task import format with a labeling config made from the
rubrics (Label Studio's JSON export of the annotated tasks is read back by :func:`label_studio_records`).

Trace content is hostile input: CSV cells that a spreadsheet would run as a formula are prefixed with
``'``, and the Label Studio config escapes every rubric and label name.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from eval_pipelines.judge.rubrics import Rubric

TEMPLATE_COLUMNS = ["item_id", "rubric", "label", "score", "reviewer_id", "timestamp", "comment", "allowed_labels",
                    "control", "reasons", "priority", "route", "prompt_version", "model", "start_time", "input_text",
                    "output_text", "retrieved_context", "judge_verdicts", "alert_keys"]
TASK_FIELDS = ["span_id", "trace_id", "start_time", "route", "prompt_version", "model", "input_text", "output_text",
               "retrieved_context", "judge_verdicts"]
COMMENT_FIELD = "comment"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def label_templates(queue: list[dict[str, Any]], rubrics: dict[str, Rubric],
                    rubrics_for_route: Callable[[str | None], list[str]]) -> list[dict[str, Any]]:
    """One row per queued item and rubric of its unit that applies to its route, with the label fields left empty."""
    rows = []
    for item in queue:
        unit = item.get("unit") or "call"
        for name in (name for name in rubrics_for_route(item.get("route")) if rubrics[name].unit == unit):
            rows.append({"item_id": item["span_id"], "rubric": name, "label": "", "score": "", "reviewer_id": "",
                         "timestamp": "", "comment": "", "allowed_labels": "|".join(rubrics[name].label_names),
                         "control": bool(item.get("control")), "reasons": "|".join(item.get("reasons") or []),
                         "priority": item.get("priority"), "route": item.get("route"),
                         "prompt_version": item.get("prompt_version"), "model": item.get("model"),
                         "start_time": str(item.get("start_time") or ""), "input_text": item.get("input_text"),
                         "output_text": item.get("output_text"), "retrieved_context": item.get("retrieved_context"),
                         "judge_verdicts": item.get("judge_verdicts"),
                         "alert_keys": "|".join(item.get("alert_keys") or [])})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows), encoding="utf-8")


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet shows as text: values starting like a formula get a leading apostrophe."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TEMPLATE_COLUMNS)
        writer.writeheader()
        writer.writerows({name: spreadsheet_safe(row.get(name)) for name in TEMPLATE_COLUMNS} for row in rows)


def label_studio_tasks(queue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio's import format: one task per queued item, the item's fields under ``data``."""
    return [{"data": {**{name: str(item[name]) if name == "start_time" and item.get(name) else item.get(name)
                         for name in TASK_FIELDS},
                      "reasons": ", ".join(item.get("reasons") or []), "control": bool(item.get("control"))}}
            for item in queue]


def label_studio_config(rubrics: list[Rubric]) -> str:
    """A labeling config: the request and answer as text, one single-choice question per rubric, a comment."""
    lines = ["<View>", '  <Header value="Question"/>', '  <Text name="input" value="$input_text"/>',
             '  <Header value="Answer"/>', '  <Text name="output" value="$output_text"/>',
             '  <Header value="Retrieved context"/>', '  <Text name="context" value="$retrieved_context"/>']
    for rubric in rubrics:
        lines.append(f"  <Header value={quoteattr(rubric.name)}/>")
        lines.append(f'  <Choices name={quoteattr(rubric.name)} toName="output" choice="single">')
        lines += [f"    <Choice value={quoteattr(label)}/>" for label in rubric.label_names]
        lines.append("  </Choices>")
    lines += ['  <Header value="Expected behaviour (becomes the golden item\'s reference)"/>',
              f'  <TextArea name="{COMMENT_FIELD}" toName="output" rows="3"/>', "</View>"]
    return "\n".join(lines) + "\n"


def _reviewer(annotation: dict[str, Any]) -> str | None:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return str(who) if who not in (None, "") else None


def label_studio_records(tasks: Any) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Label rows from Label Studio's JSON export (task number, row or the reason the task is unusable):
    one per annotation and choice question; the ``comment`` text area goes with each."""
    if not isinstance(tasks, list):
        yield 1, "not a Label Studio JSON export (expected a list of tasks)"
        return
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            yield number, "task without data"
            continue
        item_id = task["data"].get("span_id") or task["data"].get("item_id")
        for annotation in task.get("annotations") or []:
            if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                continue
            results = [r for r in annotation.get("result") or [] if isinstance(r, dict)]
            comment = " ".join(text for r in results if r.get("from_name") == COMMENT_FIELD
                               for text in (r.get("value") or {}).get("text") or [])
            for result in results:
                choices = (result.get("value") or {}).get("choices")
                if result.get("type") != "choices" or not choices:
                    continue
                yield number, {"item_id": item_id, "rubric": result.get("from_name"), "label": choices[0],
                               "reviewer_id": _reviewer(annotation),
                               "timestamp": annotation.get("updated_at") or annotation.get("created_at"),
                               "comment": comment or None}


def export_queue(queue: list[dict[str, Any]], out: Path, stem: str, rubrics: dict[str, Rubric],
                 rubrics_for_route: Callable[[str | None], list[str]]) -> dict[str, Path]:
    """The queue in every format under ``out``: label templates (JSONL, CSV), Label Studio tasks and config."""
    out.mkdir(parents=True, exist_ok=True)
    ordered = sorted(queue, key=lambda item: (item.get("priority") or 0, str(item.get("start_time")), item["span_id"]))
    templates = label_templates(ordered, rubrics, rubrics_for_route)
    paths = {"jsonl": out / f"{stem}.jsonl", "csv": out / f"{stem}.csv",
             "label_studio": out / f"{stem}.label-studio.json", "label_studio_config": out / "label-studio-config.xml"}
    write_jsonl(paths["jsonl"], templates)
    write_csv(paths["csv"], templates)
    paths["label_studio"].write_text(json.dumps(label_studio_tasks(ordered), ensure_ascii=False, indent=1,
                                                default=str), encoding="utf-8")
    used = sorted({row["rubric"] for row in templates})
    paths["label_studio_config"].write_text(label_studio_config([rubrics[name] for name in used]), encoding="utf-8")
    return paths
