"""Runs the configured evaluators over one partition of requests, vectorised, into long-format scores.

Each evaluator sees a DuckDB view of the requests of one route profile (the routes that share a
configuration) and returns either a SQL query or an Arrow table with the columns
``span_id, score, label, passed, explanation``. The engine adds name, version and settings hash,
and the slice columns of the request, so every score row is self-describing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from eval_pipelines.evaluators import budgets, formats, grounding, safety, text
from eval_pipelines.evaluators.base import RESULT_SCHEMA, Batch, Evaluator, Outcome, Query
from eval_pipelines.evaluators.config import EvaluatorBlock, EvaluatorConfig, Settings
from eval_pipelines.schemas import PROGRAMMATIC_SCORES

REQUEST_COLUMNS = [
    "span_id", "trace_id", "start_time", "route", "prompt_version", "request_model", "response_model",
    "input_text", "output_text", "tool_calls", "finish_reasons", "retrieved_context", "duration_ms",
    "input_tokens", "output_tokens", "cost_usd", "status_code",
]
@dataclass
class ScoringStats:
    seconds_by_evaluator: dict[str, float] = field(default_factory=dict)


EVALUATORS: dict[str, Evaluator] = {
    evaluator.name: evaluator
    for module in (text, formats, grounding, safety, budgets) for evaluator in module.EVALUATORS
}


def empty_scores() -> pa.Table:
    return PROGRAMMATIC_SCORES.empty_table()


def score_requests(requests: pa.Table, config: EvaluatorConfig, con: duckdb.DuckDBPyConnection,
                   stats: ScoringStats | None = None) -> pa.Table:
    """Every enabled evaluator on every request of its route: one row per request and evaluator."""
    if requests.num_rows == 0:
        return empty_scores()
    stats = stats if stats is not None else ScoringStats()
    con.register("scored_requests", requests.select(REQUEST_COLUMNS))
    profiles = _route_profiles(requests, config)
    con.register("route_profiles", pa.table({"route": list(profiles),
                                             "profile": [index for index, _ in profiles.values()]}))
    con.execute("""CREATE OR REPLACE TEMP TABLE profiled_requests AS
                   SELECT r.*, coalesce(p.profile, 0) AS profile,
                          coalesce(r.status_code, '') != 'ERROR' AS answered
                   FROM scored_requests r LEFT JOIN route_profiles p ON r.route IS NOT DISTINCT FROM p.route""")
    con.unregister("scored_requests")
    con.unregister("route_profiles")
    parts = []
    for index, block in {index: block for index, block in profiles.values()}.items():
        view = f"profile_{index}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM profiled_requests WHERE profile = {index}")
        parts.extend(_run_block(Batch(con, view), block, stats))
    results = pa.concat_tables(parts) if parts else None
    if results is None or results.num_rows == 0:
        return empty_scores()
    con.register("scores_long", results)
    table = con.sql(f"""
        SELECT {', '.join(_select_list())}
        FROM scores_long s JOIN profiled_requests r USING (span_id)
        ORDER BY r.start_time, s.span_id, s.evaluator""").to_arrow_table()
    con.unregister("scores_long")
    con.execute("DROP TABLE profiled_requests")
    return table.cast(PROGRAMMATIC_SCORES)


def _select_list() -> list[str]:
    from_request = {"trace_id", "start_time", "route", "prompt_version", "request_model", "response_model"}
    return [f"r.{name}" if name in from_request else f"s.{name}" for name in PROGRAMMATIC_SCORES.names]


def _route_profiles(requests: pa.Table, config: EvaluatorConfig) -> dict[str | None, tuple[int, EvaluatorBlock]]:
    """Distinct route -> (profile number, effective block); routes with equal blocks share a number."""
    routes = set(requests.column("route").to_pylist())
    blocks: dict[str, int] = {}
    profiles = {}
    for route in sorted(routes, key=lambda r: (r is None, r or "")):
        block = config.block_for(route)
        key = block.model_dump_json()
        index = blocks.setdefault(key, len(blocks))
        profiles[route] = (index, block)
    return profiles


def _run_block(batch: Batch, block: EvaluatorBlock, stats: ScoringStats) -> Iterator[pa.Table]:
    for name, settings in block.enabled().items():
        evaluator = EVALUATORS[name]
        started = time.perf_counter()
        for result_name, outcome in evaluator.run(batch, settings):
            table = _materialize(batch.con, outcome)
            yield _label_results(table, result_name, evaluator.version, settings)
        stats.seconds_by_evaluator[name] = stats.seconds_by_evaluator.get(name, 0.0) + time.perf_counter() - started


def _materialize(con: duckdb.DuckDBPyConnection, outcome: Outcome) -> pa.Table:
    if isinstance(outcome, Query):
        outcome = con.sql(outcome.sql, params=outcome.params or None).to_arrow_table()
    return outcome.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)


def _label_results(table: pa.Table, name: str, version: int, settings: Settings) -> pa.Table:
    rows = table.num_rows
    return (table.append_column("evaluator", pa.array([name] * rows, pa.string()))
            .append_column("evaluator_version", pa.array([version] * rows, pa.int32()))
            .append_column("settings_hash", pa.array([settings.fingerprint()] * rows, pa.string())))
