"""The files dropped into ``<home>/offline``, validated row by row.

``outputs/*.jsonl``: a candidate's outputs for golden items, one per line:
``{"item_id": "gold-…", "model": "…", "prompt_version": "…", "output_text": "…"}`` (optional
``tool_calls``; for a golden agent run, optional ``steps``: the candidate's trajectory, one string per step or
one text). They are scored here by the production evaluators and judge.

``results/*.jsonl``: a team's own offline results, one per item and metric:
``{"model": "…", "prompt_version": "…", "metric": "helpfulness", "item_id": "…", "passed": true}``
(optional numeric ``score``). They are compared with production as they are.

A line that cannot be used goes to quarantine with file, line and reason; the first of two lines for
the same output or result is kept and the second quarantined.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval_pipelines.jsonl import json_objects

MAX_ID = 200
MAX_OUTPUT_CHARS = 100_000
MAX_RAW = 2000
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class OfflineFiles:
    outputs: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)


def _identifier(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text if text and len(text) <= MAX_ID else None


def _common(record: dict[str, Any]) -> dict[str, str] | str:
    fields = {name: _identifier(record, name) for name in ("item_id", "model", "prompt_version")}
    missing = [name for name, value in fields.items() if value is None]
    return f"missing or invalid {', '.join(missing)}" if missing else fields


def parse_output(record: dict[str, Any]) -> dict[str, Any] | str:
    """A candidate output, or the reason it cannot be used."""
    common = _common(record)
    if isinstance(common, str):
        return common
    output = record.get("output_text")
    if not isinstance(output, str):
        return "output_text must be a string"
    tool_calls = record.get("tool_calls")
    try:
        steps = _steps(record.get("steps"))
    except ValueError as error:
        return str(error)
    return {**common, "output_text": output[:MAX_OUTPUT_CHARS], "steps": steps,
            "tool_calls": json.dumps(tool_calls) if tool_calls not in (None, "", []) else None}


def _steps(value: Any) -> str | None:
    """A candidate's steps as the trajectory text the judge reads (``None`` when absent)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value[:MAX_OUTPUT_CHARS]
    if isinstance(value, list) and all(isinstance(step, str) for step in value):
        return "\n".join(f"Step {number}: {step}" for number, step in enumerate(value, start=1))[:MAX_OUTPUT_CHARS]
    raise ValueError("steps must be a string or a list of strings")


def parse_result(record: dict[str, Any]) -> dict[str, Any] | str:
    """A team's offline result, or the reason it cannot be used."""
    common = _common(record)
    if isinstance(common, str):
        return common
    metric = record.get("metric")
    if not isinstance(metric, str) or not METRIC_NAME.match(metric):
        return f"metric {str(metric)[:40]!r} is not a metric name (lower case, digits, _)"
    passed, score = record.get("passed"), record.get("score")
    if not isinstance(passed, bool):
        return "passed must be true or false"
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        return f"score {str(score)[:40]!r} is not a number"
    return {**common, "metric": metric, "passed": passed, "score": float(score) if score is not None else None}


def read_offline_files(folder: Path) -> OfflineFiles:
    """Every ``outputs/*.jsonl`` and ``results/*.jsonl`` under ``folder``."""
    found = OfflineFiles()
    for kind, parse, rows, key in (("outputs", parse_output, found.outputs, ("item_id", "model", "prompt_version")),
                                   ("results", parse_result, found.results,
                                    ("item_id", "model", "prompt_version", "metric"))):
        seen: dict[tuple, str] = {}
        for path in sorted((folder / kind).rglob("*.jsonl")) if (folder / kind).is_dir() else []:
            source = str(path.relative_to(folder))
            for number, raw, record in json_objects(path.read_bytes().decode("utf-8", errors="replace")):
                parsed = parse(record) if isinstance(record, dict) else record
                identity = tuple(parsed[name] for name in key) if isinstance(parsed, dict) else None
                if identity in seen:
                    parsed = f"duplicate of {seen[identity]}"
                if isinstance(parsed, str):
                    found.quarantine.append({"source_file": source, "source_line": number, "reason": parsed,
                                             "raw": raw[:MAX_RAW]})
                    continue
                seen[identity] = f"{source}:{number}"
                rows.append(parsed | {"source_file": source, "source_line": number})
    return found
