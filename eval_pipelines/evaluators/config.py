"""Which programmatic evaluators run on which route, with their settings (one YAML file).

``defaults`` configures every route; an entry under ``routes`` (an exact route or a glob such as
``/orders*``) overrides the fields it names, evaluator by evaluator, and can switch one on or off.
Regular expressions use RE2 syntax (DuckDB runs them) and are checked when the file is loaded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import duckdb
import jsonschema_rs
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator, model_validator

from eval_pipelines.config import configured_path, load_config
from eval_pipelines.evaluators.custom import load_function


def check_re2(pattern: str) -> str:
    """Reject a pattern that RE2 (DuckDB's regex engine) cannot compile, with RE2's own message."""
    try:
        duckdb.sql("SELECT regexp_matches('', $p)", params={"p": pattern}).fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"not a valid RE2 regular expression: {pattern!r}: {exc}") from None
    return pattern


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True

    def fingerprint(self) -> str:
        """Short hash of the effective settings: results of different settings never mix."""
        text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


class PhraseSettings(Settings):
    phrases: list[str] = Field(default_factory=list,
                               description="Case-insensitive phrases matched on word boundaries.")
    patterns: list[str] = Field(default_factory=list, description="RE2 patterns, case-insensitive.")

    @field_validator("phrases")
    @classmethod
    def _no_blank_phrases(cls, value: list[str]) -> list[str]:
        if any(not phrase.strip() for phrase in value):
            raise ValueError("phrases must not be blank")
        return value

    @field_validator("patterns")
    @classmethod
    def _re2_patterns(cls, value: list[str]) -> list[str]:
        return [check_re2(pattern) for pattern in value]


class RefusalSettings(PhraseSettings):
    pass


class InjectionSettings(PhraseSettings):
    include_retrieved_context: bool = Field(True, description="Also look for markers in retrieved documents.")


class EmptyAnswerSettings(Settings):
    pass


class TruncatedAnswerSettings(Settings):
    finish_reasons: list[str] = Field(default_factory=lambda: ["length", "max_tokens", "max_output_tokens"])


class LengthSettings(Settings):
    min: PositiveInt | None = None
    max: PositiveInt | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LengthSettings:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class LanguageMatchSettings(Settings):
    min_chars: PositiveInt = Field(20, description="Shorter questions or answers are not judged.")
    min_confidence: float = Field(0.8, ge=0, le=1)
    languages: list[str] = Field(default_factory=list, description="Candidate ISO 639-1 codes; empty = all 97.")


class JsonSettings(Settings):
    strip_code_fences: bool = Field(False, description="Accept JSON wrapped in a ```json fence.")


class JsonSchemaSettings(JsonSettings):
    json_schema: dict[str, Any] | None = Field(None, alias="schema")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

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


class RegexCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str
    field: Literal["output_text", "input_text"] = "output_text"
    match: Literal["full", "search"] = Field("full", description="full: the whole text; search: anywhere.")

    @field_validator("pattern")
    @classmethod
    def _re2(cls, value: str) -> str:
        return check_re2(value)


class RegexFormatSettings(Settings):
    checks: dict[str, RegexCheck] = Field(default_factory=dict)

    @field_validator("checks")
    @classmethod
    def _names(cls, value: dict[str, RegexCheck]) -> dict[str, RegexCheck]:
        bad = [name for name in value if not name.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"check names must be letters, digits and '_': {', '.join(bad)}")
        return value


class CitationSettings(Settings):
    pattern: str = Field(r"\[([A-Za-z0-9][\w.:/-]{0,63})\]",
                         description="RE2 pattern whose first group is a cited document id.")
    required: bool = Field(False, description="An answer with retrieved context must cite at least one id.")

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        check_re2(value)
        if "(" not in value.replace(r"\(", "").replace("(?", ""):
            raise ValueError("the citation pattern needs a capture group for the document id")
        return value


class GroundingSettings(Settings):
    min_score: float = Field(0.5, ge=0, le=1)
    min_token_chars: PositiveInt = 3
    stopwords: list[str] = Field(default_factory=list, description="Words that never count as content.")


class PiiSettings(Settings):
    kinds: list[Literal["email", "phone", "card", "iban"]] = Field(
        default_factory=lambda: ["email", "phone", "card", "iban"])


class BudgetSettings(Settings):
    def limits(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in type(self).model_fields if name.startswith("max_")}

    @model_validator(mode="after")
    def _limit_when_enabled(self) -> BudgetSettings:
        if self.enabled and all(limit is None for limit in self.limits().values()):
            raise ValueError(f"set {' or '.join(self.limits())} where this budget is enabled")
        return self


class LatencyBudgetSettings(BudgetSettings):
    max_ms: PositiveFloat | None = None


class TokenBudgetSettings(BudgetSettings):
    max_input_tokens: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None


class CostBudgetSettings(BudgetSettings):
    max_usd: PositiveFloat | None = None


class EvaluatorBlock(BaseModel):
    """One settings entry per evaluator; absent = not configured at this level."""

    model_config = ConfigDict(extra="forbid")

    refusal: RefusalSettings | None = None
    empty_answer: EmptyAnswerSettings | None = None
    truncated_answer: TruncatedAnswerSettings | None = None
    answer_chars: LengthSettings | None = None
    answer_words: LengthSettings | None = None
    language_match: LanguageMatchSettings | None = None
    json_valid: JsonSettings | None = None
    json_schema: JsonSchemaSettings | None = None
    regex_format: RegexFormatSettings | None = None
    citations: CitationSettings | None = None
    grounding: GroundingSettings | None = None
    pii_leak: PiiSettings | None = None
    prompt_injection: InjectionSettings | None = None
    latency_budget: LatencyBudgetSettings | None = None
    token_budget: TokenBudgetSettings | None = None
    cost_budget: CostBudgetSettings | None = None

    def enabled(self) -> dict[str, Settings]:
        return {name: settings for name in type(self).model_fields
                if (settings := getattr(self, name)) is not None and settings.enabled}


class CustomEvaluator(Settings):
    """A team's own code evaluator (see :mod:`eval_pipelines.evaluators.custom`)."""

    function: str = Field(description="package.module:function, importable where the pipeline runs.")
    per_row: bool = Field(False, description="The function takes one request (else the batch, as an Arrow table).")
    version: PositiveInt = Field(1, description="Raise it when the function changes: requests are scored again.")
    routes: list[str] | None = Field(None, description="Route globs it runs on; absent: every request.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Passed to the function as is.")

    @field_validator("function")
    @classmethod
    def _importable(cls, value: str) -> str:
        load_function(value)
        return value


class EvaluatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: EvaluatorBlock = Field(default_factory=EvaluatorBlock)
    routes: dict[str, EvaluatorBlock] = Field(default_factory=dict)
    custom: dict[str, CustomEvaluator] = Field(default_factory=dict)

    @field_validator("custom")
    @classmethod
    def _custom_names(cls, value: dict[str, CustomEvaluator]) -> dict[str, CustomEvaluator]:
        for name in value:
            if not name.replace("_", "").isalnum() or not name[0].isalpha():
                raise ValueError(f"custom evaluator name {name!r}: letters, digits and '_', starting with a letter")
            if name in EvaluatorBlock.model_fields:
                raise ValueError(f"custom evaluator name {name!r} is a packaged evaluator's name")
        return value

    def block_for(self, route: str | None) -> EvaluatorBlock:
        """The defaults with the first matching route entry (exact match first, then globs in file order)."""
        override = self.routes.get(route) if route is not None else None
        if override is None and route is not None:
            override = next((block for pattern, block in self.routes.items()
                             if fnmatch.fnmatchcase(route, pattern)), None)
        return merge_blocks(self.defaults, override) if override else self.defaults


def merge_blocks(base: EvaluatorBlock, override: EvaluatorBlock) -> EvaluatorBlock:
    merged = {}
    for name in EvaluatorBlock.model_fields:
        mine, theirs = getattr(base, name), getattr(override, name)
        if theirs is None:
            merged[name] = mine
        elif mine is None:
            merged[name] = theirs
        else:
            explicit = {field: getattr(theirs, field) for field in theirs.model_fields_set}
            merged[name] = type(mine).model_validate({**mine.model_dump(by_alias=False), **explicit})
    return EvaluatorBlock(**merged)


def load_evaluator_config(path: Path | None = None) -> EvaluatorConfig:
    """The user file (argument or ``EVAL_PIPELINES_EVALUATORS``), else the packaged defaults."""
    return load_config(path or configured_path("EVAL_PIPELINES_EVALUATORS", "evaluators.yaml"), EvaluatorConfig)
