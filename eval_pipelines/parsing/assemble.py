"""Join staged spans into ``traces`` rows with DuckDB: dedupe, resolve dimensions up the span tree,
attach retrieved context and log-record content, price each call.

Set-based and out-of-core: DuckDB does the joins (spilling to disk under its memory limit) and the
result is fetched one hour at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.parsing import conventions as conv
from eval_pipelines.parsing.plain import PLAIN_FORMAT
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.parsing.staging import HOURLY_KIND
from eval_pipelines.schemas import TRACE_CONTENT, TRACE_QUARANTINE
from eval_pipelines.settings import IngestionSettings, PriceTable

MAX_TREE_DEPTH = 64
T = TypeVar("T")

# Every join works on narrow rows (ids, times, lookups): the wide content columns of an LLM call are
# read only when its hour is fetched, from that hour's staged files. Each staged row is known by its
# file and row number.
# Dimensions resolve up the tree: the walk goes from each LLM call to its parent, its parent's parent…,
# filling each value still missing from the next span up (so the nearest wins), and stops once all
# are found. Every value found on the walk for a name is that nearest one, so max() picks it.
# Which version of a span id an hour keeps: the one that ends last (a span exported again once it ended).
_KEPT_VERSION = "QUALIFY row_number() OVER (PARTITION BY span_id ORDER BY end_ns DESC, source_file, source_line) = 1"
_ASSEMBLE_SQL = """
CREATE OR REPLACE TEMP TABLE llm_keys AS
SELECT span_id, trace_id, parent_span_id, start_ns, lookups, filename, file_row_number
FROM read_parquet($llm, filename = true, file_row_number = true)
{kept_version};

CREATE OR REPLACE TEMP TABLE tree_rows AS
SELECT * FROM (
    SELECT trace_id, span_id, parent_span_id, start_ns, lookups, documents, source_file, source_line
    FROM read_parquet($tree)
    UNION ALL
    SELECT trace_id, span_id, parent_span_id, start_ns, lookups, NULL, source_file, source_line
    FROM read_parquet($all_llm)
)
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY source_file, source_line) = 1;

CREATE OR REPLACE TEMP TABLE resolved AS
WITH RECURSIVE walk(llm_span_id, trace_id, parent_span_id, depth, {value_names}) AS (
    SELECT span_id, trace_id, parent_span_id, 0, {own_values} FROM llm_keys
    UNION ALL
    SELECT w.llm_span_id, w.trace_id, t.parent_span_id, w.depth + 1, {nearest_values}
    FROM walk w JOIN tree_rows t ON t.trace_id = w.trace_id AND t.span_id = w.parent_span_id
    WHERE w.depth < {max_depth} AND ({any_missing})
)
SELECT llm_span_id, {resolved_values} FROM walk GROUP BY llm_span_id;

CREATE OR REPLACE TEMP TABLE context AS
SELECT l.span_id,
       '[' || string_agg(substr(t.documents, 2, length(t.documents) - 2), ','
                         ORDER BY t.start_ns, t.span_id) || ']' AS retrieved_context
FROM llm_keys l JOIN tree_rows t ON t.trace_id = l.trace_id
WHERE t.documents IS NOT NULL AND t.start_ns <= l.start_ns
GROUP BY l.span_id;

CREATE OR REPLACE TEMP TABLE span_events AS
SELECT trace_id, span_id,
       list({{'name': name, 'role': role, 'message': message, 'input_messages': input_messages,
              'output_messages': output_messages, 'system_instructions': system_instructions}}
            ORDER BY time_ns, seq) AS events
FROM (SELECT DISTINCT ON (trace_id, span_id, name, time_ns, message, input_messages, output_messages)
             * FROM read_parquet($event))
GROUP BY trace_id, span_id;

CREATE OR REPLACE TEMP TABLE joined AS
SELECT k.filename, k.file_row_number, k.start_ns // {hour_ns} AS hour_index,
       {resolved_columns},
       c.retrieved_context, e.events
FROM llm_keys k
LEFT JOIN resolved r ON r.llm_span_id = k.span_id
LEFT JOIN context c ON c.span_id = k.span_id
LEFT JOIN span_events e ON e.trace_id = k.trace_id AND e.span_id = k.span_id;
"""

_HOUR_SQL = """
SELECT l.span_id, l.trace_id, l.parent_span_id, j.session_id, j.user_id,
       l.start_ns // 1000 AS start_us, l.end_ns // 1000 AS end_us,
       CASE WHEN l.end_ns >= l.start_ns THEN (l.end_ns - l.start_ns) / 1e6 END AS duration_ms,
       l.service_name, l.environment, l.operation, l.provider, l.request_model, l.response_model,
       l.response_id, j.prompt_version, j.route, j.dimensions,
       l.input_messages, l.output_messages, l.input_text, l.output_text, l.system_instructions,
       coalesce(l.retrieved_context, j.retrieved_context) AS retrieved_context,
       l.tool_calls, l.input_tokens, l.output_tokens, l.finish_reasons, l.status_code, l.error_type,
       l.request_params, l.attributes, l.parse_warnings, l.source_format, l.source_file, j.events
FROM read_parquet($files, filename = true, file_row_number = true) l
JOIN (SELECT * FROM joined WHERE hour_index = $hour) j
  ON j.filename = l.filename AND j.file_row_number = l.file_row_number
ORDER BY start_us, l.span_id
"""

_CONTENT_COLUMNS = ("input_messages", "output_messages", "input_text", "output_text",
                    "system_instructions", "tool_calls", "finish_reasons")


def _content_from_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The same merge as for span events, from staged log-record events (already normalised)."""
    content = conv.Content()
    for event in events:
        if event["name"] == conv.DETAILS_EVENT:
            content.fill_from_details({"gen_ai.input.messages": event["input_messages"],
                                       "gen_ai.output.messages": event["output_messages"],
                                       "gen_ai.system_instructions": event["system_instructions"]})
    content.fill_from_messages((event["name"] == "gen_ai.choice", orjson.loads(event["message"]))
                               for event in events if event["message"])
    return content.canonical()


def _fill_from_events(table: pa.Table) -> pa.Table:
    """Rows whose content came as separate log-record events get it filled in (only where missing)."""
    events = table.column("events").to_pylist()
    if not any(events):
        return table
    columns = {name: table.column(name).to_pylist() for name in _CONTENT_COLUMNS}
    for i, row_events in enumerate(events):
        if not row_events:
            continue
        derived = _content_from_events(row_events)
        for name in _CONTENT_COLUMNS:
            if columns[name][i] is None:
                columns[name][i] = derived[name]
    for name in _CONTENT_COLUMNS:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(columns[name], type=table.schema.field(name).type))
    return table


def _cost(table: pa.Table, prices: PriceTable) -> pa.Array:
    model = pc.coalesce(table.column("response_model"), table.column("request_model"))
    unique = [m for m in pc.unique(model).to_pylist() if m is not None]
    found = {m: prices.price_for(m) for m in unique}
    keys = pa.array([m for m, p in found.items() if p is not None], type=pa.string())
    index = pc.index_in(model, value_set=keys)
    price_in = pa.array([found[m].input_per_million for m in keys.to_pylist()], type=pa.float64())
    price_out = pa.array([found[m].output_per_million for m in keys.to_pylist()], type=pa.float64())
    # Counts above 2^53 lose precision as floats rather than fail the hour (validation flags them).
    tokens_in = pc.cast(pc.fill_null(table.column("input_tokens"), 0), pa.float64(), safe=False)
    tokens_out = pc.cast(pc.fill_null(table.column("output_tokens"), 0), pa.float64(), safe=False)
    cost_in = pc.multiply(pc.take(price_in, index), tokens_in)
    cost_out = pc.multiply(pc.take(price_out, index), tokens_out)
    cost = pc.divide(pc.add(cost_in, cost_out), 1e6)
    no_tokens = pc.and_(pc.is_null(table.column("input_tokens")), pc.is_null(table.column("output_tokens")))
    return pc.if_else(no_tokens, pa.scalar(None, pa.float64()), cost)


_RICHNESS_COLUMNS = ("input_messages", "output_messages", "system_instructions", "tool_calls", "input_tokens",
                     "output_tokens", "finish_reasons", "response_model", "prompt_version", "route", "session_id")


def _one_row_per_call(table: pa.Table) -> pa.Table:
    """When an SDK's own tracing and an instrumentation library both trace a call, its trace holds two LLM
    spans with the same ``gen_ai.response.id``: the row with the most fields filled stays (ties: the earlier
    span), and its ``parse_warnings`` name the spans dropped."""
    keys = list(zip(table.column("trace_id").to_pylist(), table.column("response_id").to_pylist(), strict=True))
    rows_of: dict[tuple[str, str], list[int]] = {}
    for row, key in enumerate(keys):
        if key[1] is not None:
            rows_of.setdefault(key, []).append(row)
    duplicates = [rows for rows in rows_of.values() if len(rows) > 1]
    if not duplicates:
        return table
    filled = [sum(value is not None for value in values) for values in zip(
        *(table.column(name).to_pylist() for name in _RICHNESS_COLUMNS), strict=True)]
    span_ids, warnings = table.column("span_id").to_pylist(), table.column("parse_warnings").to_pylist()
    dropped: set[int] = set()
    for rows in duplicates:
        kept = max(rows, key=lambda row: (filled[row], -row))
        others = [row for row in rows if row != kept]
        dropped.update(others)
        warnings[kept] = [*(warnings[kept] or []), "the same call (gen_ai.response.id) is also traced by span(s) "
                          + ", ".join(span_ids[row] for row in others) + ": those rows were dropped"]
    table = table.set_column(table.schema.get_field_index("parse_warnings"), "parse_warnings",
                             pa.array(warnings, type=table.schema.field("parse_warnings").type))
    return table.filter(pa.array([row not in dropped for row in range(table.num_rows)]))


def _to_canonical(table: pa.Table, prices: PriceTable) -> pa.Table:
    table = _one_row_per_call(_fill_from_events(table))
    columns = []
    for field in TRACE_CONTENT:
        if field.name == "start_time":
            columns.append(pc.cast(table.column("start_us"), field.type))
        elif field.name == "end_time":
            columns.append(pc.cast(table.column("end_us"), field.type))
        elif field.name == "cost_usd":
            columns.append(_cost(table, prices))
        else:
            columns.append(pc.cast(table.column(field.name), field.type))
    return pa.Table.from_arrays(columns, schema=TRACE_CONTENT)


@dataclass(frozen=True)
class StagedFolders:
    """The staged records a build reads: one folder per landing file, each holding ``part-*`` folders
    (one per parsed byte range) of the files :class:`~eval_pipelines.parsing.staging.StagingWriter` writes."""

    by_source: dict[str, Path]

    @cached_property
    def _listing(self) -> dict[str, list[Path]]:
        """Every staged file by landing file, listed once."""
        return {source: sorted(part for folder in sorted(root.iterdir()) for part in folder.iterdir())
                for source, root in self.by_source.items()}

    def files(self, kind: str, sources: list[str] | None = None) -> list[str]:
        """The staged files of one record kind (of the given landing files, or of all)."""
        name = f"{kind}.parquet"
        return [str(path) for source in (self.by_source if sources is None else sources)
                for path in self._listing[source] if path.name == name]

    def hourly_files(self) -> dict[int, list[str]]:
        """The staged ``llm`` files by hour."""
        by_hour: dict[int, list[str]] = {}
        for paths in self._listing.values():
            for path in paths:
                if path.name.startswith(f"{HOURLY_KIND}-"):
                    by_hour.setdefault(int(path.name.split("-")[1]), []).append(str(path))
        return by_hour


# Two LLM spans with one span id but a different trace, parent or start are two spans, not one re-sent; one
# sent again with other content (anything a stored row holds) is no copy either. The version kept (the same
# choice as llm_keys) stays, and each other one is quarantined with both sources.
_STORED_CONTENT = ("end_ns", "service_name", "environment", "operation", "provider", "request_model",
                   "response_model", "response_id", "input_messages", "output_messages", "system_instructions",
                   "tool_calls", "finish_reasons", "input_tokens", "output_tokens", "status_code", "error_type",
                   "request_params", "attributes", "lookups")
_SAME_IDENTITY = ("(v.trace_id IS NOT DISTINCT FROM k.trace_id AND v.parent_span_id IS NOT DISTINCT FROM "
                  "k.parent_span_id AND v.start_ns = k.start_ns)")
_CONFLICTS_SQL = f"""
WITH versions AS (
    SELECT span_id, trace_id, parent_span_id, start_ns, end_ns, source_format, source_file, source_line,
           hash({", ".join(_STORED_CONTENT)}) AS content
    FROM read_parquet($llm)
), kept AS (
    SELECT * FROM versions
    {_KEPT_VERSION}
)
SELECT v.start_ns // $hour_ns AS hour_index, v.source_file, v.source_line,
       'span id conflict: ' || v.span_id || CASE WHEN {_SAME_IDENTITY} THEN ' was sent again with other content'
           ELSE ' is also a different span (trace ' || k.trace_id || ', start ' || k.start_ns || ' ns)' END
           || ' at ' || k.source_file || ':' || k.source_line || ', the version kept' AS reason,
       to_json({{'span_id': v.span_id, 'trace_id': v.trace_id, 'parent_span_id': v.parent_span_id,
                 'start_ns': v.start_ns, 'end_ns': v.end_ns}})::VARCHAR AS raw,
       CASE WHEN v.source_format = $plain THEN $plain ELSE 'otlp' END AS source_format
FROM versions v JOIN kept k ON k.span_id = v.span_id
WHERE NOT {_SAME_IDENTITY} OR v.content <> k.content
ORDER BY v.source_file, v.source_line
"""


def span_id_conflicts(con: duckdb.DuckDBPyConnection, staged: StagedFolders, first_hour: int,
                      last_hour: int) -> dict[int, pa.Table]:
    """Quarantine rows, by hour, for the LLM spans of ``[first_hour, last_hour]`` whose span id another,
    different span of the window carries."""
    files = [path for hour, paths in staged.hourly_files().items() if first_hour <= hour <= last_hour
             for path in paths]
    if not files:
        return {}
    table = con.sql(_CONFLICTS_SQL, params={"llm": files, "hour_ns": HOUR_NS, "plain": PLAIN_FORMAT}).to_arrow_table()
    hours = table.column("hour_index").to_pylist()
    rows = table.drop(["hour_index"]).cast(TRACE_QUARANTINE)
    return {hour: rows.take([i for i, h in enumerate(hours) if h == hour]) for hour in sorted(set(hours))}


def assemble_traces(con: duckdb.DuckDBPyConnection, staged: StagedFolders, first_hour: int, last_hour: int,
                    settings: IngestionSettings, prices: PriceTable) -> Iterator[tuple[int, pa.Table]]:
    """Yield ``(hour index, traces rows of that hour)`` for every hour of ``[first_hour, last_hour]`` with LLM
    spans. Each next hour is fetched in a thread while the caller handles the current one (typically writing it)."""
    return _prefetched(_assembled_hours(con, staged, first_hour, last_hour, settings, prices))


def _resolution_sql(settings: IngestionSettings) -> dict[str, str]:
    """The parts of the walk that depend on the configured names. The staged ``lookups`` list holds one
    value per name, in :meth:`IngestionSettings.lookup_keys` order; the walk carries one column per name.
    Extra dimensions' names reach the SQL as the ``$dimension_keys`` parameter (JSON-encoded), never as text."""
    names = list(settings.lookup_keys())
    columns = [f"v{i}" for i in range(len(names))]
    column_of = dict(zip(names, columns, strict=True))
    extras = ", ".join(f"CASE WHEN r.{column_of[name]} IS NOT NULL THEN "
                       f"$dimension_keys[{i + 1}] || to_json(r.{column_of[name]}) END"
                       for i, name in enumerate(settings.extra_dimensions))
    dimensions = f"nullif('{{' || concat_ws(',', {extras}) || '}}', '{{}}')" if extras else "NULL::VARCHAR"
    return {
        "value_names": ", ".join(columns),
        "own_values": ", ".join(f"lookups[{i + 1}]" for i in range(len(names))),
        "nearest_values": ", ".join(f"coalesce(w.{c}, t.lookups[{i + 1}])" for i, c in enumerate(columns)),
        "any_missing": " OR ".join(f"w.{c} IS NULL" for c in columns),
        "resolved_values": ", ".join(f"max({c}) AS {c}" for c in columns),
        "resolved_columns": ", ".join([*(f"r.{column_of[name]} AS {name}" for name in
                                         ("session_id", "user_id", "prompt_version", "route")),
                                       f"{dimensions} AS dimensions"]),
    }


def _assembled_hours(con: duckdb.DuckDBPyConnection, staged: StagedFolders, first_hour: int, last_hour: int,
                     settings: IngestionSettings, prices: PriceTable) -> Iterator[tuple[int, pa.Table]]:
    """LLM calls of the window's hours; every staged span of the files read is a node of the tree their
    dimensions resolve through (an LLM call of another hour included)."""
    all_llm_files = staged.hourly_files()
    llm_files = {hour: files for hour, files in all_llm_files.items() if first_hour <= hour <= last_hour}
    if not llm_files:
        return
    sql = _ASSEMBLE_SQL.format(max_depth=MAX_TREE_DEPTH, hour_ns=HOUR_NS, kept_version=_KEPT_VERSION,
                               **_resolution_sql(settings))
    params = {"llm": list(chain.from_iterable(llm_files.values())),
              "all_llm": list(chain.from_iterable(all_llm_files.values())),
              "tree": staged.files("tree"), "event": staged.files("event"),
              "dimension_keys": [orjson.dumps(name).decode() + ":" for name in settings.extra_dimensions]}
    for statement in filter(str.strip, sql.split(";")):
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, used)
    hours = [row[0] for row in con.execute("SELECT DISTINCT hour_index FROM joined ORDER BY 1").fetchall()]
    for hour in hours:
        raw = con.sql(_HOUR_SQL, params={"files": llm_files[hour], "hour": hour}).to_arrow_table()
        yield hour, _to_canonical(raw, prices)


def _prefetched(items: Iterator[T]) -> Iterator[T]:
    """``items``, each next one computed in a worker thread while the consumer handles the current one.
    DuckDB and Parquet writing both release the GIL, so a query and a partition write overlap."""
    done = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending = pool.submit(next, items, done)
        while (item := pending.result()) is not done:
            pending = pool.submit(next, items, done)
            yield item
