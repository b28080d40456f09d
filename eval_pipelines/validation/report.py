"""A self-contained HTML page of a partition's validation results (every value escaped)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from eval_pipelines.validation.suite import CheckOutcome

_STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2937}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d1d5db;padding:.4rem .6rem;
vertical-align:top;text-align:left}.pass{color:#047857;font-weight:600}.fail{color:#b91c1c;font-weight:600}
pre{white-space:pre-wrap;margin:0;font-size:.85rem}"""


def render_validation_report(title: str, outcomes: Sequence[CheckOutcome], rows: int) -> str:
    esc = html.escape
    check_rows = "".join(
        f"<tr><td>{esc(o.name)}</td><td class={'pass' if o.passed else 'fail'}>"
        f"{'passed' if o.passed else 'FAILED'}</td><td>{'blocking' if o.blocking else 'warning'}</td>"
        f"<td>{esc(o.description)}</td><td><pre>{esc(json.dumps(o.observed, indent=1, default=str))}</pre>"
        f"</td></tr>" for o in outcomes)
    failed = sum(not o.passed for o in outcomes)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1>"
            f"<p>{rows} rows; {len(outcomes) - failed} of {len(outcomes)} checks passed.</p>"
            f"<table><tr><th>check</th><th>result</th><th>kind</th>"
            f"<th>rule</th><th>observed</th></tr>{check_rows}</table></body></html>")


def write_report(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
