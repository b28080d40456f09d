"""What an evaluator is: a named, versioned function from a batch of requests to result rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

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


@dataclass(frozen=True)
class Evaluator:
    name: str
    version: int
    description: str
    run: EvaluatorFn


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
