"""The hour's judge sample: stratified, deterministic, with hard cases first and known inclusion odds.

Design (documented in the README, "Judge sample"):

* The population is the hour's requests that produced an answer (text or tool calls); errors and
  empty answers are already scored by the programmatic evaluators.
* Hard cases (a failed programmatic check from a configured list, a thumbs-down) form their own
  strata and are all taken (probability 1) while they fit in ``max_share`` of the hourly budget;
  beyond that they are sampled like the rest.
* Every other request falls in a stratum given by the configured slice columns. Each stratum first
  gets ``min_per_stratum`` (or all it has); the rest of the budget is shared in proportion to stratum
  size (largest remainders, never more than a stratum has).
* Within a stratum the ``n`` requests with the smallest ``draw`` are taken, where ``draw`` is a hash
  of the seed and the span id: simple random sampling without replacement, so each request's
  inclusion probability is exactly ``n / N``, and re-running the hour picks the same requests.

Estimates are weighted back to the population with ``1 / inclusion_probability`` (Horvitz-Thompson;
for rates the Hajek ratio ``sum(y / p) / sum(1 / p)`` over the judged rows).
"""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa

from eval_pipelines.judge.settings import PrioritySettings, SamplingSettings
from eval_pipelines.schemas import JUDGE_SAMPLE

REQUEST_COLUMNS = ["span_id", "trace_id", "start_time", "route", "prompt_version", "request_model",
                   "response_model", "service_name", "environment", "provider", "output_text", "tool_calls"]


def draw(seed: int, span_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the span id."""
    digest = hashlib.blake2b(f"{seed}\x1f{span_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def allocate(sizes: dict[str, int], budget: int, minimum: int) -> dict[str, int]:
    """Sample sizes per stratum: the minimum first, then the budget in proportion to size, capped."""
    take = {stratum: min(size, minimum) for stratum, size in sizes.items()}
    left = budget - sum(take.values())
    while left > 0:
        room = {stratum: sizes[stratum] - take[stratum] for stratum in sizes if sizes[stratum] > take[stratum]}
        if not room:
            break
        total = sum(sizes[stratum] for stratum in room)
        shares = {stratum: left * sizes[stratum] / total for stratum in room}
        grant = {stratum: min(int(shares[stratum]), room[stratum]) for stratum in room}
        if not any(grant.values()):
            by_remainder = sorted(room, key=lambda s: (-(shares[s] - int(shares[s])), s))
            grant = {stratum: 1 for stratum in by_remainder[:left]}
        for stratum, extra in grant.items():
            take[stratum] += extra
        left -= sum(grant.values())
    return take


def hard_cases(con: duckdb.DuckDBPyConnection, scores: pa.Table | None, feedback: pa.Table | None,
               priority: PrioritySettings) -> pa.Table:
    """``span_id`` and the sorted list of reasons it is a hard case."""
    parts = ["SELECT NULL::VARCHAR AS span_id, NULL::VARCHAR AS reason WHERE false"]
    if scores is not None and priority.failed_evaluators:
        con.register("_scores", scores)
        parts.append("SELECT span_id, 'failed:' || evaluator FROM _scores "
                     "WHERE NOT passed AND list_contains($evaluators, evaluator)")
    if feedback is not None and priority.thumbs_down:
        con.register("_feedback", feedback)
        parts.append("SELECT span_id, 'thumbs_down' FROM _feedback "
                     "WHERE kind = 'thumbs' AND label = 'down' AND span_id IS NOT NULL")
    query = " UNION ALL ".join(parts)
    params = {"evaluators": priority.failed_evaluators} if "$evaluators" in query else None
    return con.sql(f"SELECT span_id, list_sort(list(DISTINCT reason)) AS reasons FROM ({query}) "
                   "GROUP BY span_id", params=params).to_arrow_table()


def _stratum_expression(columns: list[str]) -> str:
    parts = [f"'{column}=' || coalesce({column}, '(none)')" for column in columns] or ["'all'"]
    return " || ', ' || ".join(parts)


def draw_sample(con: duckdb.DuckDBPyConnection, requests: pa.Table, hard: pa.Table,
                settings: SamplingSettings) -> pa.Table:
    """The sample of one hour (schema ``JUDGE_SAMPLE``), priority rows first, then by draw."""
    con.register("_requests", requests)
    con.register("_hard", hard)
    units = con.sql(f"""
        SELECT r.span_id, r.trace_id, r.start_time, r.route, r.prompt_version, r.request_model, r.response_model,
               {_stratum_expression(settings.strata)} || CASE WHEN h.span_id IS NULL THEN '' ELSE ' (hard case)' END
                   AS stratum,
               h.span_id IS NOT NULL AS priority, coalesce(h.reasons, []::VARCHAR[]) AS priority_reasons
        FROM _requests r LEFT JOIN _hard h USING (span_id)
        WHERE coalesce(trim(r.output_text), '') <> '' OR r.tool_calls IS NOT NULL""").to_arrow_table()
    draws = pa.array([draw(settings.seed, span_id) for span_id in units.column("span_id").to_pylist()],
                     pa.float64())
    con.register("_units", units.append_column("draw", draws))
    sizes = dict(con.sql("SELECT stratum, count(*) FROM _units GROUP BY ALL").fetchall())
    hard_sizes = {stratum: n for stratum, n in sizes.items() if stratum.endswith("(hard case)")}
    cap = int(settings.priority.max_share * settings.per_hour)
    take = (dict(hard_sizes) if sum(hard_sizes.values()) <= cap
            else allocate(hard_sizes, cap, settings.min_per_stratum))
    regular = {stratum: n for stratum, n in sizes.items() if stratum not in hard_sizes}
    take |= allocate(regular, max(0, settings.per_hour - sum(take.values())), settings.min_per_stratum)
    con.register("_take", pa.table({"stratum": list(take), "n": list(take.values()),
                                    "size": [sizes[stratum] for stratum in take]},
                                   schema=pa.schema([("stratum", pa.string()), ("n", pa.int64()),
                                                     ("size", pa.int64())])))
    sample = con.sql("""
        SELECT u.span_id, u.trace_id, u.start_time, u.route, u.prompt_version, u.request_model,
               u.response_model, u.stratum, t.size AS stratum_size, t.n AS stratum_sampled,
               t.n / t.size AS inclusion_probability, u.priority, u.priority_reasons, u.draw
        FROM (SELECT *, row_number() OVER (PARTITION BY stratum ORDER BY draw) AS rank FROM _units) u
        JOIN _take t USING (stratum)
        WHERE u.rank <= t.n
        ORDER BY u.priority DESC, u.draw""").to_arrow_table()
    return sample.select(JUDGE_SAMPLE.names).cast(JUDGE_SAMPLE)
