"""Format evaluators: JSON validity, JSON Schema conformance and regex format checks, per route."""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema_rs
import orjson
import pyarrow as pa

from eval_pipelines.evaluators.base import Batch, Evaluator, Outcome, Query, single
from eval_pipelines.evaluators.config import JsonSchemaSettings, JsonSettings, RegexFormatSettings

CODE_FENCE = r"(?s)^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\s*```\s*$"


def _json_text_sql(settings: JsonSettings) -> str:
    if settings.strip_code_fences:
        return "coalesce(nullif(regexp_extract(output_text, $fence, 1), ''), output_text)"
    return "output_text"


def _fence_params(settings: JsonSettings) -> dict[str, str]:
    return {"fence": CODE_FENCE} if settings.strip_code_fences else {}


def _parse_error(text: str | None) -> str:
    if text is None or not text.strip():
        return "empty answer"
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"[:200]
    return "not JSON"


@single("json_valid")
def json_valid(batch: Batch, settings: JsonSettings) -> pa.Table:
    """DuckDB's ``json_valid`` on every answer; the parser's message only for the (few) invalid ones."""
    rows = batch.con.sql(f"""
        SELECT span_id, coalesce(json_valid(j), FALSE) AS passed, CASE WHEN passed THEN NULL ELSE j END AS bad
        FROM (SELECT span_id, {_json_text_sql(settings)} AS j FROM {batch.view} WHERE answered)""",
                         params=_fence_params(settings) or None).to_arrow_table()
    passed = rows.column("passed")
    explanations = [None if ok else _parse_error(text)
                    for ok, text in zip(passed.to_pylist(), rows.column("bad").to_pylist(), strict=True)]
    return pa.table({
        "span_id": rows.column("span_id"),
        "score": pa.array([1.0 if ok else 0.0 for ok in passed.to_pylist()], pa.float64()),
        "label": ["valid" if ok else "invalid" for ok in passed.to_pylist()],
        "passed": passed, "explanation": pa.array(explanations, pa.string()),
    })


@single("json_schema")
def json_schema(batch: Batch, settings: JsonSchemaSettings) -> pa.Table:
    """jsonschema-rs (compiled once) on each parsed answer: JSON Schema has no vector form."""
    validator = jsonschema_rs.validator_for(settings.json_schema)
    rows = batch.con.sql(f"SELECT span_id, {_json_text_sql(settings)} AS j FROM {batch.view} WHERE answered",
                         params=_fence_params(settings) or None).to_arrow_table()
    labels, explanations = [], []
    for text in rows.column("j").to_pylist():
        try:
            document = orjson.loads(text) if text is not None else None
        except orjson.JSONDecodeError:
            labels.append("invalid_json")
            explanations.append(_parse_error(text))
            continue
        if text is None:
            labels.append("invalid_json")
            explanations.append("empty answer")
        elif validator.is_valid(document):
            labels.append("conforms")
            explanations.append(None)
        else:
            error = next(validator.iter_errors(document))
            path = "/".join(map(str, error.instance_path)) or "(root)"
            labels.append("violates")
            explanations.append(f"{path}: {error.message}"[:200])
    return pa.table({
        "span_id": rows.column("span_id"),
        "score": pa.array([float(label == "conforms") for label in labels], pa.float64()),
        "label": labels, "passed": [label == "conforms" for label in labels],
        "explanation": pa.array(explanations, pa.string()),
    })


def regex_format(batch: Batch, settings: RegexFormatSettings) -> Iterator[tuple[str, Outcome]]:
    """One result set per named check: ``regex_format.<name>``."""
    for name, check in settings.checks.items():
        test = "regexp_full_match" if check.match == "full" else "regexp_matches"
        yield f"regex_format.{name}", Query(f"""
            SELECT span_id, CASE WHEN ok THEN 1.0 ELSE 0.0 END AS score,
                   CASE WHEN ok THEN 'match' ELSE 'no_match' END AS label, ok AS passed,
                   CASE WHEN ok THEN NULL ELSE '{check.field} does not match the {name} pattern' END AS explanation
            FROM (SELECT span_id, coalesce({test}({check.field}, $pattern), FALSE) AS ok
                  FROM {batch.view} WHERE answered)""", {"pattern": check.pattern})


EVALUATORS = [
    Evaluator("json_valid", 1, "The answer parses as JSON (optionally inside a code fence).", json_valid),
    Evaluator("json_schema", 1, "The answer conforms to the route's JSON Schema.", json_schema),
    Evaluator("regex_format", 1, "The answer matches the route's named regular expressions.", regex_format),
]
