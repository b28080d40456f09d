"""Row-level validation rules, vectorised over a ``traces`` partition.

Each rule is a boolean mask over the rows; a row's ``reasons`` are the names of the rules it breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import Field, PositiveFloat, PositiveInt

from eval_pipelines.config import SettingsFile, SettingsModel, load_config
from eval_pipelines.increments import fingerprint
from eval_pipelines.schemas import TRACE_VALIDATION

VALIDATION_FILE = SettingsFile("validation.yaml", "EVAL_PIPELINES_VALIDATION_CONFIG")


class ValidationSettings(SettingsModel):
    max_duration_ms: PositiveFloat = 600_000
    """Calls longer than this are flagged `absurd_duration`."""
    max_tokens: PositiveInt = 2_000_000
    """Input or output tokens above this are flagged `absurd_tokens`."""
    known_operations: list[str] = Field(default=["chat", "text_completion", "generate_content", "completion"],
                                        min_length=1)
    """Operation names accepted; others are flagged `unknown_operation`."""


def load_validation_settings(path: Path | None = None) -> ValidationSettings:
    return load_config(path or VALIDATION_FILE.path(), ValidationSettings)


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.fillna("").str.strip() == "")


Rule = Callable[[pd.DataFrame, ValidationSettings], pd.Series]

RULES: dict[str, Rule] = {
    "missing_input": lambda df, _: _blank(df["input_text"]) & df["input_messages"].isna(),
    "missing_output": lambda df, _: (_blank(df["output_text"]) & df["tool_calls"].isna()
                                     & (df["status_code"] != "ERROR")),
    "wrong_type": lambda df, _: df["parse_warnings"].map(lambda w: w is not None and len(w) > 0).astype(bool),
    "negative_duration": lambda df, _: df["duration_ms"] < 0,
    "absurd_duration": lambda df, s: df["duration_ms"] > s.max_duration_ms,
    "negative_tokens": lambda df, _: (df["input_tokens"] < 0) | (df["output_tokens"] < 0),
    "absurd_tokens": lambda df, s: (df["input_tokens"] > s.max_tokens) | (df["output_tokens"] > s.max_tokens),
    "unknown_operation": lambda df, s: ~df["operation"].isin(s.known_operations),
    "missing_model": lambda df, _: df["request_model"].isna() & df["response_model"].isna(),
}

_COLUMNS = ["span_id", "trace_id", "start_time", "input_text", "input_messages", "output_text", "tool_calls",
            "status_code", "parse_warnings", "duration_ms", "input_tokens", "output_tokens", "operation",
            "request_model", "response_model"]


def validation_fingerprint(settings: ValidationSettings) -> int:
    """What a row's flags depend on besides the row: the settings and the rules."""
    return fingerprint(settings.model_dump_json(), *RULES)


def validate_rows(traces: pa.Table, settings: ValidationSettings) -> pa.Table:
    """One ``trace_validation`` row per trace row: passed, and the names of the rules it breaks."""
    frame = traces.select(_COLUMNS).to_pandas(types_mapper=pd.ArrowDtype)
    frame = frame.astype({c: "object" for c in ("parse_warnings",)})
    masks = {name: rule(frame, settings).fillna(False).to_numpy(dtype=bool) for name, rule in RULES.items()}
    names = np.array(list(masks), dtype=object)
    matrix = np.column_stack(list(masks.values())) if len(frame) else np.zeros((0, len(names)), dtype=bool)
    reasons = [names[row].tolist() for row in matrix]
    return pa.table({
        "span_id": traces.column("span_id"),
        "trace_id": traces.column("trace_id"),
        "start_time": traces.column("start_time"),
        "passed": pa.array([not r for r in reasons], type=pa.bool_()),
        "reasons": pa.array(reasons, type=pa.list_(pa.string())),
        "input_hash": pa.nulls(len(reasons), pa.uint64()),
    }, schema=TRACE_VALIDATION)


def reason_counts(validation: pa.Table) -> dict[str, int]:
    counts = dict.fromkeys(RULES, 0)
    for reasons in validation.column("reasons").to_pylist():
        for reason in reasons:
            counts[reason] += 1
    return counts
