"""Evidently reports saved as HTML that trace content cannot script."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# Evidently writes each report's data as one line: `var <name> = <JSON>;`, inside a <script> block.
DATA_LINE = re.compile(r"^(\s*var \w+ = )(.*);\s*$")
ESCAPED_LT = "\\u003c"


def save_report_html(snapshot: Any, path: Path, banner: str = "") -> Path:
    """The snapshot's HTML page at ``path``, with ``banner`` (trusted HTML) at the top of the body.

    Evidently embeds its data as JSON in a <script> block without escaping, so a value such as a model name
    holding ``</script><script>…`` would end the block and run. Every ``<`` inside that JSON is written as
    ``\\u003c`` instead, which JSON and JavaScript read back as the same character: the page shows the value
    exactly, as text."""
    lines = [_escaped_data(line) for line in snapshot.get_html_str(as_iframe=False).splitlines(keepends=True)]
    page = "".join(lines)
    if banner:
        body = page.find("<body")
        insert_at = page.find(">", body) + 1 if body >= 0 else 0
        page = page[:insert_at] + banner + page[insert_at:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _escaped_data(line: str) -> str:
    match = DATA_LINE.match(line)
    if match is None or "<" not in match.group(2):
        return line
    try:
        json.loads(match.group(2))
    except ValueError:
        return line  # script code, not data: outside JSON strings a `<` is an operator
    # In valid JSON a `<` can only sit inside a string, where \u003c means the same character.
    return match.group(1) + match.group(2).replace("<", ESCAPED_LT) + ";\n"
