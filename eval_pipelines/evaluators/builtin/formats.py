"""Format evaluators: JSON validity, JSON Schema conformance and regex format checks, per route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import jsonschema_rs
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ConfigDict, Field, field_validator, model_validator

from eval_pipelines.config import SettingsModel
from eval_pipelines.evaluators.base import Batch, Evaluator, Outcome, Query, Settings, Sli, check_re2, single


class JsonSettings(Settings):
    strip_code_fences: bool = Field(False, description="Accept JSON wrapped in a ```json fence.")


class JsonSchemaSettings(JsonSettings):
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    """The JSON Schema the answer must validate against (key `schema`)."""

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                jsonschema_rs.validator_for(value)
            except (jsonschema_rs.ValidationError, ValueError) as exc:
                raise ValueError(f"not a valid JSON Schema: {exc}") from None
        return value

    @model_validator(mode="after")
    def _schema_when_enabled(self) -> JsonSchemaSettings:
        if self.enabled and self.json_schema is None:
            raise ValueError("json_schema needs a `schema` where it is enabled")
        return self


class RegexCheck(SettingsModel):
    pattern: str
    """An RE2 pattern (linear time: no backreferences or lookaround)."""
    field: Literal["output_text", "input_text"] = "output_text"
    """The text the pattern is applied to."""
    match: Literal["full", "search"] = Field("full", description="full: the whole text; search: anywhere.")

    @field_validator("pattern")
    @classmethod
    def _re2(cls, value: str) -> str:
        return check_re2(value)


class RegexFormatSettings(Settings):
    checks: dict[str, RegexCheck] = Field(default_factory=dict)
    """Named patterns: each must match for the call to pass."""

    @field_validator("checks")
    @classmethod
    def _names(cls, value: dict[str, RegexCheck]) -> dict[str, RegexCheck]:
        bad = [name for name in value if not name.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"check names must be letters, digits and '_': {', '.join(bad)}")
        return value


CODE_FENCE = r"(?s)^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\s*```\s*$"


def _json_text_sql(settings: JsonSettings) -> str:
    if settings.strip_code_fences:
        return "coalesce(nullif(regexp_extract(output_text, $fence, 1), ''), output_text)"
    return "output_text"


def _fence_params(settings: JsonSettings) -> dict[str, str]:
    return {"fence": CODE_FENCE} if settings.strip_code_fences else {}


def not_json_reason(text: str) -> str:
    """SQL saying why ``text`` is not JSON, without parsing it again row by row."""
    return rf"""CASE WHEN {text} IS NULL OR trim({text}) = '' THEN 'empty answer'
                     WHEN regexp_matches({text}, '^\s*[\[{{]') THEN 'malformed or cut-off JSON'
                     ELSE 'not JSON: starts with "'
                          || translate(left({text}, 30), chr(10) || chr(13) || chr(9), '   ') || '"' END"""


@single("json_valid")
def json_valid(batch: Batch, settings: JsonSettings) -> Query:
    return Query(f"""
        SELECT rid, CASE WHEN ok THEN 1.0 ELSE 0.0 END AS score, CASE WHEN ok THEN 'valid' ELSE 'invalid' END AS label,
               ok AS passed, CASE WHEN ok THEN NULL ELSE {not_json_reason('j')} END AS explanation
        FROM (SELECT rid, j, coalesce(json_valid(j), FALSE) AS ok
              FROM (SELECT rid, {_json_text_sql(settings)} AS j FROM {batch.view} WHERE answered))""",
                 _fence_params(settings))


def _schema_verdicts(texts: list[str], schema: dict) -> tuple[pa.Array, pa.Array]:
    """Label and explanation for each distinct valid JSON text."""
    validator = jsonschema_rs.validator_for(schema)
    labels, explanations = [], []
    for text in texts:
        document = orjson.loads(text)
        error = None if validator.is_valid(document) else next(validator.iter_errors(document))
        labels.append("conforms" if error is None else "violates")
        explanations.append(None if error is None else
                            f"{'/'.join(map(str, error.instance_path)) or '(root)'}: {error.message}"[:200])
    return pa.array(labels, pa.string()), pa.array(explanations, pa.string())


@single("json_schema")
def json_schema(batch: Batch, settings: JsonSchemaSettings) -> pa.Table:
    """Invalid JSON is settled in SQL; jsonschema-rs validates each distinct valid text once (answers of
    one route repeat a lot), and Arrow maps the verdicts back to the rows."""
    rows = batch.con.sql(f"""
        SELECT rid, j, coalesce(json_valid(j), FALSE) AS ok, CASE WHEN NOT ok THEN {not_json_reason('j')} END AS why
        FROM (SELECT rid, {_json_text_sql(settings)} AS j FROM {batch.view} WHERE answered)""",
                         params=_fence_params(settings) or None).to_arrow_table()
    ok = rows.column("ok")
    texts = pc.unique(pc.filter(rows.column("j"), ok))
    labels, explanations = _schema_verdicts(texts.to_pylist(), settings.json_schema)
    position = pc.index_in(rows.column("j"), value_set=texts)
    label = pc.if_else(ok, pc.take(labels, position), "invalid_json")
    return pa.table({
        "rid": rows.column("rid"), "score": pc.cast(pc.equal(label, "conforms"), pa.float64()), "label": label,
        "passed": pc.equal(label, "conforms"),
        "explanation": pc.if_else(ok, pc.take(explanations, position), rows.column("why")),
    })


def regex_format(batch: Batch, settings: RegexFormatSettings) -> Iterator[tuple[str, Outcome]]:
    """One result set per named check: ``regex_format.<name>``."""
    for name, check in settings.checks.items():
        test = "regexp_full_match" if check.match == "full" else "regexp_matches"
        yield f"regex_format.{name}", Query(f"""
            SELECT rid, CASE WHEN ok THEN 1.0 ELSE 0.0 END AS score,
                   CASE WHEN ok THEN 'match' ELSE 'no_match' END AS label, ok AS passed,
                   CASE WHEN ok THEN NULL ELSE $explanation END AS explanation
            FROM (SELECT rid, coalesce({test}({check.field}, $pattern), FALSE) AS ok
                  FROM {batch.view} WHERE answered)""",
            {"pattern": check.pattern, "explanation": f"{check.field} does not match the {name} pattern"})


EVALUATORS = [
    Evaluator("json_valid", 1, "The answer parses as JSON (optionally inside a code fence).", json_valid,
              JsonSettings, Sli("json_validity", "passed")),
    Evaluator("json_schema", 1, "The answer conforms to the route's JSON Schema.", json_schema, JsonSchemaSettings,
              Sli("schema_validity", "passed")),
    Evaluator("regex_format", 1, "The answer matches the route's named regular expressions.", regex_format,
              RegexFormatSettings),
]
