"""Reviewers' label files: JSONL, CSV or Label Studio's JSON export in ``<home>/labels/``, validated
row by row. The review queue's label templates (``eval-pipelines review export``) come back as they are:
rows a reviewer left empty (no label, score or reviewer) are skipped and counted, not quarantined.

A row names the item (``item_id``: a span id or a golden/seed item id; ``span_id`` is accepted too),
the ``rubric``, a ``label`` and/or a ``score``, the ``reviewer_id``, a ``timestamp`` (ISO 8601) and
an optional ``comment``. A row that cannot be used goes to quarantine with the reason; nothing is
guessed. A reviewer who labels the same item and rubric again supersedes their earlier label.

Several reviewers per item are resolved by majority of labels; a tie is flagged and left unresolved
(no label), so it never counts for or against the judge. The score is the median of the scores.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from eval_pipelines.jsonl import json_objects
from eval_pipelines.judge.rubrics import Rubric
from eval_pipelines.review.export import label_studio_records
from eval_pipelines.schemas import HUMAN_LABELS, LABEL_QUARANTINE, RESOLVED_LABELS

LABEL_SUFFIXES = (".jsonl", ".csv", ".json")
MAX_COMMENT = 2000
MAX_ID = 200
ALIASES = {"item_id": ("item_id", "span_id", "golden_id", "id"), "reviewer_id": ("reviewer_id", "reviewer"),
           "timestamp": ("timestamp", "labelled_at", "labeled_at", "created_at")}


@dataclass
class LabelBuild:
    labels: pa.Table
    quarantine: pa.Table
    unlabelled: int = 0


def _field(record: dict[str, Any], name: str) -> Any:
    for alias in ALIASES.get(name, (name,)):
        value = record.get(alias)
        if value not in (None, ""):
            return value
    return None


_BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_KNOWN_COLUMNS = frozenset({"rubric", "label", "score", *ALIASES["item_id"], *ALIASES["reviewer_id"]})


def _text(data: bytes) -> str:
    """The file's text: UTF-8, or whatever its byte order mark says (Excel writes UTF-16 and UTF-8 with a BOM)."""
    encoding = next((name for mark, name in _BYTE_ORDER_MARKS if data.startswith(mark)), "utf-8")
    return data.decode(encoding, errors="replace")


def _separator(text: str) -> str:
    """The separator the header row uses: the one splitting it into the most label columns (``,`` if none does).
    The header alone decides: values may hold any of the separators, quoted, and line breaks."""
    header = text.split("\n", 1)[0]
    return max(",;\t", key=lambda separator: len({name.strip().strip('"') for name in header.split(separator)}
                                                   & _KNOWN_COLUMNS))


def _csv_rows(text: str) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """Rows of a CSV in any of the common dialects (``,``, ``;`` or tab between fields); a header with none of
    the label columns makes one quarantine row for the file instead of rows that look unfilled."""
    reader = csv.DictReader(io.StringIO(text), delimiter=_separator(text))
    header = {name.strip() for name in reader.fieldnames or [] if name}
    if text.strip() and not header & _KNOWN_COLUMNS:
        yield 1, text[:2000], (f"no label columns in the header (found: {', '.join(sorted(header))[:200] or 'none'}; "
                               f"expected item_id, rubric, label or score, reviewer_id)")
        return
    for number, row in enumerate(reader, start=2):
        yield number, json.dumps(row, ensure_ascii=False), {k.strip(): (v or "").strip() for k, v in row.items()
                                                             if k is not None and isinstance(v, str | None)}


def _records(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """(line, raw text, record or the reason it is unreadable) for each row of a label file."""
    text = _text(path.read_bytes())
    if path.suffix == ".json":
        try:
            tasks = json.loads(text)
        except ValueError:
            yield 1, text[:2000], "malformed JSON"
            return
        raw_number, raw = 0, ""  # a task yields a row per annotation and question, in order: serialise it once
        for number, record in label_studio_records(tasks):
            if number != raw_number:
                task = tasks[number - 1] if isinstance(tasks, list) else tasks
                raw_number, raw = number, json.dumps(task, ensure_ascii=False, default=str)
            yield number, raw, record
        return
    if path.suffix == ".csv":
        yield from _csv_rows(text)
        return
    yield from json_objects(text)


def _timestamp(value: Any) -> datetime | str:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return f"timestamp {str(value)[:40]!r} is not ISO 8601"
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _score(value: Any, rubric: Rubric) -> float | None | str:
    if value is None:
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return f"score {str(value)[:40]!r} is not a number"
    if not rubric.score.min <= score <= rubric.score.max:
        return f"score {score:g} is outside {rubric.score.min}..{rubric.score.max}"
    return score


def unlabelled(record: dict[str, Any]) -> bool:
    """A label template row nobody filled in."""
    return all(_field(record, name) is None for name in ("label", "score", "reviewer_id"))


def parse_label(record: dict[str, Any], rubrics: dict[str, Rubric]) -> dict[str, Any] | str:
    """A label row, or the reason it cannot be used."""
    item_id, reviewer = _field(record, "item_id"), _field(record, "reviewer_id")
    if not isinstance(item_id, str | int) or not str(item_id).strip() or len(str(item_id)) > MAX_ID:
        return "missing or invalid item_id"
    if not isinstance(reviewer, str | int) or not str(reviewer).strip():
        return "missing reviewer_id"
    rubric = rubrics.get(str(record.get("rubric") or ""))
    if rubric is None:
        return f"unknown rubric {str(record.get('rubric'))[:40]!r} (known: {', '.join(sorted(rubrics))})"
    raw_label = record.get("label")
    label = str(raw_label).strip().lower().replace(" ", "_").replace("-", "_") if raw_label not in (None, "") else None
    if label is not None and label not in rubric.label_names:
        return f"label {str(raw_label)[:40]!r} is not one of {rubric.label_names}"
    score = _score(_field(record, "score"), rubric)
    if isinstance(score, str):
        return score
    if label is None and score is None:
        return "neither label nor score"
    when = _timestamp(_field(record, "timestamp"))
    if isinstance(when, str):
        return when
    comment = record.get("comment")
    return {"item_id": str(item_id).strip(), "rubric": rubric.name, "label": label, "score": score,
            "passed": rubric.passed(label) if label else None, "reviewer_id": str(reviewer).strip(),
            "labelled_at": when.astimezone(UTC), "comment": str(comment)[:MAX_COMMENT] if comment else None}


def read_label_files(files: list[tuple[Path, str]], rubrics: dict[str, Rubric]) -> LabelBuild:
    """All rows of the given files (path, name to record as source): latest per reviewer, item and rubric."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    quarantine, skipped = [], 0
    for path, source in files:
        for line, raw, record in _records(path):
            if isinstance(record, dict) and unlabelled(record):
                skipped += 1
                continue
            parsed = parse_label(record, rubrics) if isinstance(record, dict) else record
            if isinstance(parsed, str):
                quarantine.append({"source_file": source, "source_line": line, "reason": parsed, "raw": raw[:2000]})
                continue
            key = (parsed["item_id"], parsed["rubric"], parsed["reviewer_id"])
            parsed |= {"source_file": source, "source_line": line, "label_id": hashlib.sha256(
                "\x1f".join(map(str, key)).encode()).hexdigest()[:24]}
            if key not in latest or latest[key]["labelled_at"] <= parsed["labelled_at"]:
                latest[key] = parsed
    return LabelBuild(pa.Table.from_pylist(list(latest.values()), schema=HUMAN_LABELS),
                      pa.Table.from_pylist(quarantine, schema=LABEL_QUARANTINE), skipped)


def label_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in LABEL_SUFFIXES
                  and not p.name.startswith("."))


def resolve(labels: pa.Table) -> pa.Table:
    """One row per item and rubric: the majority label (ties flagged, unresolved) and the median score."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in labels.to_pylist():
        groups.setdefault((row["item_id"], row["rubric"]), []).append(row)
    resolved = []
    for (item_id, rubric), rows in sorted(groups.items()):
        counts: dict[str, int] = {}
        for row in rows:
            if row["label"]:
                counts[row["label"]] = counts.get(row["label"], 0) + 1
        top = max(counts.values(), default=0)
        winners = sorted(label for label, count in counts.items() if count == top)
        label = winners[0] if len(winners) == 1 else None
        passed = next((row["passed"] for row in rows if row["label"] == label), None) if label else None
        scores = [row["score"] for row in rows if row["score"] is not None]
        resolved.append({"item_id": item_id, "rubric": rubric, "label": label, "passed": passed,
                         "score": statistics.median(scores) if scores else None, "reviewers": len(rows),
                         "tie": len(winners) > 1, "labels": sorted(counts)})
    return pa.Table.from_pylist(resolved, schema=RESOLVED_LABELS)
