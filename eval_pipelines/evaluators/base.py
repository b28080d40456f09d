"""What an evaluator is: a named, versioned function from a batch of requests to result rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import pyarrow as pa
from pydantic import Field, field_validator

from eval_pipelines.config import SettingsModel

RESULT_SCHEMA = pa.schema([("rid", pa.int64()), ("score", pa.float64()), ("label", pa.string()),
                           ("passed", pa.bool_()), ("explanation", pa.string())])


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """The requests one evaluator scores: a view on a DuckDB connection."""

    con: duckdb.DuckDBPyConnection
    view: str

    def fetch(self, columns: str, where: str = "TRUE") -> pa.Table:
        return self.con.sql(f"SELECT {columns} FROM {self.view} WHERE {where}").to_arrow_table()


Outcome = Query | pa.Table
EvaluatorFn = Callable[[Batch, Any], Iterator[tuple[str, Outcome]]]


def check_re2(pattern: str) -> str:
    """Reject a pattern that RE2 (DuckDB's regex engine) cannot compile, with RE2's own message."""
    try:
        duckdb.sql("SELECT regexp_matches('', $p)", params={"p": pattern}).fetchall()
    except duckdb.Error as exc:
        raise ValueError(f"not a valid RE2 regular expression: {pattern!r}: {exc}") from None
    return pattern


class Settings(SettingsModel):
    enabled: bool = True
    """Whether the evaluator runs at this level (defaults, then a route's block)."""

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


@dataclass(frozen=True)
class Sli:
    """The quality SLI an evaluator feeds: the share of its results that passed, or that failed."""

    name: str
    counts: Literal["passed", "failed"]


@dataclass(frozen=True)
class Evaluator:
    """One evaluator: its function, the settings model of its entry in ``evaluators.yaml`` and the SLI it feeds.
    ``version``: raise it when the function's results change, so requests are scored again."""

    name: str
    version: int
    description: str
    run: EvaluatorFn
    settings: type[Settings] = Settings
    sli: Sli | None = None


def single(name: str) -> Callable[[Callable[[Batch, Any], Outcome]], EvaluatorFn]:
    """Adapts an evaluator that yields one result set under its own name."""

    def wrap(fn: Callable[[Batch, Any], Outcome]) -> EvaluatorFn:
        def run(batch: Batch, settings: Any) -> Iterator[tuple[str, Outcome]]:
            yield name, fn(batch, settings)

        return run

    return wrap


def _phrase_to_re2(phrase: str) -> str:
    out = []
    for char in phrase.strip().lower():
        if char.isspace():
            if not out or out[-1] != r"\s+":
                out.append(r"\s+")
        elif char in "'’":
            out.append("['’]")
        elif char.isalnum() or ord(char) > 127:
            out.append(char)
        else:
            out.append("\\" + char)
    return "".join(out)


def phrase_regex(phrases: list[str]) -> str | None:
    """Case-insensitive RE2 matching any phrase as whole words; group 1 is the matched phrase."""
    if not phrases:
        return None
    alternatives = "|".join(_phrase_to_re2(p) for p in sorted(phrases, key=len, reverse=True))
    return rf"(?i)(?:^|[^\p{{L}}\p{{N}}])({alternatives})(?:$|[^\p{{L}}\p{{N}}])"


def any_pattern_regex(patterns: list[str]) -> str | None:
    return "(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")" if patterns else None


def matched_marker_sql(column: str, phrases: list[str], patterns: list[str]) -> tuple[str, dict[str, str]]:
    """SQL for the first phrase or pattern found in ``column`` (NULL when none), and its parameters."""
    terms, params = [], {}
    if (regex := phrase_regex(phrases)) is not None:
        terms.append(f"nullif(regexp_extract({column}, $phrases, 1), '')")
        params["phrases"] = regex
    if (regex := any_pattern_regex(patterns)) is not None:
        terms.append(f"nullif(regexp_extract({column}, $patterns, 0), '')")
        params["patterns"] = regex
    return (f"coalesce({', '.join(terms)})" if terms else "NULL::VARCHAR"), params


def quoted(sql_text: str, limit: int = 80) -> str:
    """SQL for a short, quoted excerpt of a text expression, for explanations."""
    return f"'\"' || left(regexp_replace({sql_text}, '\\s+', ' ', 'g'), {limit}) || '\"'"
