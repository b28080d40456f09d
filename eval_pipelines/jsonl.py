"""JSON Lines drop files (labels, offline outputs and results), read leniently line by line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def json_objects(text: str) -> Iterator[tuple[int, str, dict[str, Any] | str]]:
    """(line number, raw line, the JSON object or the reason the line is not one), blank lines skipped."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield number, line, "malformed JSON"
            continue
        yield number, line, record if isinstance(record, dict) else "not a JSON object"
