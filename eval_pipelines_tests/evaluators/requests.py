"""Crafted requests in the traces schema, for evaluator tests."""

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import yaml

from eval_pipelines.schemas import TRACES

Scores = dict[tuple[str, str], dict[str, Any]]


def request(span_id: str, answer: str | None = "Fine.", question: str = "A question?", **fields: Any) -> dict:
    return {"span_id": span_id, "trace_id": f"t-{span_id}", "start_time": datetime(2026, 11, 21, 14, tzinfo=UTC),
            "route": "/chat", "prompt_version": "v1", "status_code": "OK", "input_text": question,
            "output_text": answer, **fields}


def requests_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{name: row.get(name) for name in TRACES.names} for row in rows], schema=TRACES)


def config_yaml(routes: dict | None = None, **evaluators: dict) -> str:
    """YAML text configuring just the evaluators given (settings ``{}`` = defaults of the model)."""
    return yaml.safe_dump({"defaults": evaluators, "routes": routes or {}})
