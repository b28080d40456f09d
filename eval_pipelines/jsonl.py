"""JSON Lines drop files (labels, offline outputs and results), read leniently line by line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eval_pipelines.parsing.files import json_value


def json_objects(text: str) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """(line number, raw line, the JSON object or the reason the line is not one), blank lines skipped. Lines
    end at ``\n`` only: U+2028, U+0085 and the other Unicode line separators in a JSON string are content."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record, _ = json_value(line.encode("utf-8", "replace"))
        except ValueError:
            yield number, line, "malformed JSON"
            continue
        yield number, line, record if isinstance(record, dict) else "not a JSON object"
