"""Runs the configured evaluators over one partition of requests, vectorised, into long-format scores.

Each evaluator sees a DuckDB view of the requests of one route profile (the routes that share a
configuration) and returns either a SQL query or an Arrow table with the columns
``rid, score, label, passed, explanation`` (``rid``: the request's row number). The engine adds
name, version and settings hash, and the slice columns of the request, so every score row is
self-describing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.evaluators.base import RESULT_SCHEMA, Batch, Evaluator, Outcome, Query, Settings
from eval_pipelines.evaluators.config import EvaluatorBlock, EvaluatorConfig
from eval_pipelines.evaluators.custom import custom_evaluator
from eval_pipelines.evaluators.registry import EVALUATORS
from eval_pipelines.increments import fingerprint
from eval_pipelines.schemas import PROGRAMMATIC_SCORES

REQUEST_SIDE = ["span_id", "trace_id", "start_time", "route", "prompt_version", "request_model", "response_model"]
REQUEST_COLUMNS = [
    *REQUEST_SIDE, "input_text", "output_text", "tool_calls", "finish_reasons", "retrieved_context", "duration_ms",
    "input_tokens", "output_tokens", "cost_usd", "status_code",
]


@dataclass
class ScoringStats:
    seconds_by_evaluator: dict[str, float] = field(default_factory=dict)


def config_fingerprint(config: EvaluatorConfig) -> int:
    """What a request's scores depend on besides the request: the configuration and the evaluators' versions."""
    return fingerprint(config.model_dump_json(), *(f"{name}:{e.version}" for name, e in sorted(EVALUATORS.items())))


def empty_scores() -> pa.Table:
    return PROGRAMMATIC_SCORES.empty_table()


def score_requests(requests: pa.Table, config: EvaluatorConfig, con: duckdb.DuckDBPyConnection,
                   stats: ScoringStats | None = None) -> pa.Table:
    """Every enabled evaluator on every request of its route: one row per request and evaluator."""
    if requests.num_rows == 0:
        return empty_scores()
    stats = stats if stats is not None else ScoringStats()
    routes = requests.column("route")
    profiles = _route_profiles(routes, config)
    profile_of_route = pa.array([index for index, _ in profiles.values()], pa.int32())
    profile = pc.take(profile_of_route, pc.index_in(routes, pa.array(list(profiles), pa.string()),
                                                    skip_nulls=False))
    answered = pc.invert(pc.fill_null(pc.equal(requests.column("status_code"), "ERROR"), False))
    con.register("profiled_requests", requests.select(REQUEST_COLUMNS)
                 .append_column("rid", pa.array(range(requests.num_rows), pa.int64()))
                 .append_column("profile", profile).append_column("answered", answered))
    parts = []
    for index, block in {index: block for index, block in profiles.values()}.items():
        view = f"profile_{index}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM profiled_requests WHERE profile = {index}")
        for name, settings in block.enabled().items():
            parts.extend(_run(Batch(con, view), EVALUATORS[name], settings, stats))
        con.execute(f"DROP VIEW {view}")
    for name, spec in config.custom.items():
        if spec.enabled:
            evaluator = custom_evaluator(name, spec.function, spec.per_row, spec.version, spec.routes, spec.settings,
                                         REQUEST_COLUMNS)
            parts.extend(_run(Batch(con, "profiled_requests"), evaluator, spec, stats))
    con.unregister("profiled_requests")
    results = pa.concat_tables(parts) if parts else None
    if results is None or results.num_rows == 0:
        return empty_scores()
    request_side = requests.select(REQUEST_SIDE).take(results.column("rid"))
    return pa.table({field.name: request_side.column(field.name) if field.name in REQUEST_SIDE
                     else results.column(field.name) if field.name in results.column_names
                     else pa.nulls(results.num_rows, field.type)  # input_hash: set by whoever keeps the table
                     for field in PROGRAMMATIC_SCORES}).cast(PROGRAMMATIC_SCORES)


def _route_profiles(routes: pa.ChunkedArray, config: EvaluatorConfig) -> dict[str | None, tuple[int, EvaluatorBlock]]:
    """Distinct route -> (profile number, effective block); routes with equal blocks share a number."""
    blocks: dict[str, int] = {}
    profiles = {}
    for route in sorted(set(routes.unique().to_pylist()), key=lambda r: (r is None, r or "")):
        block = config.block_for(route)
        index = blocks.setdefault(block.model_dump_json(), len(blocks))
        profiles[route] = (index, block)
    return profiles


def _run(batch: Batch, evaluator: Evaluator, settings: Settings, stats: ScoringStats) -> Iterator[pa.Table]:
    started = time.perf_counter()
    for result_name, outcome in evaluator.run(batch, settings):
        table = _materialize(batch.con, outcome)
        yield _label_results(table, result_name, evaluator.version, settings)
    name = evaluator.name
    stats.seconds_by_evaluator[name] = stats.seconds_by_evaluator.get(name, 0.0) + time.perf_counter() - started


def _materialize(con: duckdb.DuckDBPyConnection, outcome: Outcome) -> pa.Table:
    if isinstance(outcome, Query):
        outcome = con.sql(outcome.sql, params=outcome.params or None).to_arrow_table()
    return outcome.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)


def _label_results(table: pa.Table, name: str, version: int, settings: Settings) -> pa.Table:
    rows = table.num_rows
    return (table.append_column("evaluator", pa.repeat(pa.scalar(name, pa.string()), rows))
            .append_column("evaluator_version", pa.repeat(pa.scalar(version, pa.int32()), rows))
            .append_column("settings_hash", pa.repeat(pa.scalar(settings.fingerprint(), pa.string()), rows)))
