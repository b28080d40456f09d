"""Trace content inside Dagster's markdown metadata: escaped, so it can never become markup."""

from __future__ import annotations

import html
import re


def markdown_cell(text: str | None, limit: int = 90) -> str:
    """Trace content inside a markdown table cell: shortened, one line, no markup of its own."""
    if not text:
        return ""
    flat = re.sub(r"\s+", " ", text).strip()
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", html.escape(flat, quote=False))
