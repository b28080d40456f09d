"""``user_feedback`` rows: explicit feedback linked to the LLM call it is about, and implicit signals.

Linking (in this order, the first that finds an LLM call wins):
1. ``response_id`` equals the call's ``gen_ai.response.id``;
2. ``span_id`` is the call's span id;
3. ``trace_id``: the last LLM call of that trace (the answer the user saw).
Only calls in the traces of the ``link_lookback_hours`` up to the feedback's hour are candidates;
feedback that finds none goes to ``feedback_quarantine`` with the reason.

Implicit signals come from sessions (LLM calls sharing ``session_id``; a turn = one trace, its
question the last user message of its first call and its answer the last call). Each is attributed
to the hour in which it becomes observable and points at the answer it judges:
- ``regeneration``: the next turn asks the same question (lower-cased, punctuation and spacing
  ignored) within ``regeneration_within_s`` of the previous question;
- ``rephrase``: the next turn differs but its word set overlaps (Jaccard) at least
  ``rephrase_min_similarity``, within ``rephrase_within_s``;
- ``abandonment``: the answer failed one of ``abandonment_checks`` and the session has no further turn
  for ``abandonment_after_s`` (observable at answer time + that delay).
Edits are explicit feedback of kind ``edit``, reported by the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.feedback.settings import FeedbackSettings
from eval_pipelines.schemas import FEEDBACK_EVENTS, FEEDBACK_QUARANTINE, PROGRAMMATIC_SCORES, TRACES, USER_FEEDBACK

RESPONSE_COLUMNS = ["span_id", "trace_id", "response_id", "start_time", "session_id", "user_id", "route",
                    "prompt_version", "request_model", "response_model"]
TURN_COLUMNS = [*RESPONSE_COLUMNS, "input_text"]
SCORE_COLUMNS = ["span_id", "evaluator", "passed"]
NORMALISED = "trim(regexp_replace(lower(coalesce({0}, '')), '[^\\p{{L}}\\p{{N}}]+', ' ', 'g'))"


SIGNAL_KINDS = ("regeneration", "rephrase", "abandonment")


@dataclass(frozen=True)
class FeedbackBuild:
    rows: pa.Table
    quarantine: pa.Table


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table | None, columns: list[str],
              schema: pa.Schema) -> None:
    con.register(name, table if table is not None else schema.empty_table().select(columns))


def link_explicit(con: duckdb.DuckDBPyConnection) -> tuple[pa.Table, pa.Table]:
    """Over the registered ``events`` and ``responses``: (linked rows, quarantined rows)."""
    linked = con.sql("""
        WITH by_response AS (
            SELECT e.feedback_id, r.span_id FROM events e JOIN responses r ON e.response_id = r.response_id
            QUALIFY row_number() OVER (PARTITION BY e.feedback_id ORDER BY r.start_time DESC, r.span_id) = 1),
        by_span AS (
            SELECT e.feedback_id, r.span_id FROM events e JOIN responses r ON e.span_id = r.span_id
            QUALIFY row_number() OVER (PARTITION BY e.feedback_id ORDER BY r.start_time DESC) = 1),
        by_trace AS (
            SELECT e.feedback_id, r.span_id FROM events e JOIN responses r ON e.trace_id = r.trace_id
            QUALIFY row_number() OVER (PARTITION BY e.feedback_id ORDER BY r.start_time DESC, r.span_id DESC) = 1)
        SELECT e.*, coalesce(br.span_id, bs.span_id, bt.span_id) AS linked_span,
               CASE WHEN br.span_id IS NOT NULL THEN 'response_id' WHEN bs.span_id IS NOT NULL THEN 'span_id'
                    WHEN bt.span_id IS NOT NULL THEN 'trace_id' END AS linked_by
        FROM events e LEFT JOIN by_response br USING (feedback_id) LEFT JOIN by_span bs USING (feedback_id)
             LEFT JOIN by_trace bt USING (feedback_id)""")
    con.register("linked_events", linked.to_arrow_table())
    rows = con.sql("""
        SELECT l.feedback_id, l.observed_time, l.kind, l.source, l.label, l.score, l.value, l.comment,
               NULL AS explanation, l.linked_by, r.span_id, r.trace_id, r.response_id,
               r.start_time AS response_time, r.session_id, coalesce(l.user_id, r.user_id) AS user_id, r.route,
               r.prompt_version, r.request_model, r.response_model
        FROM linked_events l JOIN responses r ON r.span_id = l.linked_span""").to_arrow_table()
    quarantine = con.sql("""
        SELECT feedback_id, observed_time, kind, span_id, trace_id, response_id,
               'no LLM call with ' || concat_ws(' or ',
                   CASE WHEN response_id IS NOT NULL THEN 'response_id ' || response_id END,
                   CASE WHEN span_id IS NOT NULL THEN 'span_id ' || span_id END,
                   CASE WHEN trace_id IS NOT NULL THEN 'trace_id ' || trace_id END)
               || ' in the traces of the lookback window' AS reason,
               source_file, source_line
        FROM linked_events WHERE linked_span IS NULL""").to_arrow_table()
    con.unregister("linked_events")
    return rows, quarantine


def implicit_signals(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime,
                     settings: FeedbackSettings) -> pa.Table:
    """Over the registered ``turn_calls`` and ``scores``: signals observable in ``[start, end)``."""
    implicit = settings.implicit
    return con.sql(f"""
        WITH turns AS (
            SELECT session_id, trace_id, min(start_time) AS asked_at, max(start_time) AS answered_at,
                   arg_min(input_text, start_time) AS question, arg_max(span_id, start_time) AS span_id
            FROM turn_calls WHERE session_id IS NOT NULL GROUP BY session_id, trace_id),
        seq AS (
            SELECT *, {NORMALISED.format('question')} AS q,
                   lead(asked_at) OVER w AS next_at, lead({NORMALISED.format('question')}) OVER w AS next_q
            FROM turns WINDOW w AS (PARTITION BY session_id ORDER BY asked_at, trace_id)),
        compared AS (
            SELECT *, epoch(next_at - asked_at) AS gap_s,
                   CASE WHEN next_q IS NULL OR q = '' THEN NULL ELSE
                       len(list_intersect(list_distinct(string_split(q, ' ')),
                                          list_distinct(string_split(next_q, ' '))))
                       / len(list_distinct(string_split(q, ' ') || string_split(next_q, ' '))) END AS similarity
            FROM seq),
        failures AS (
            SELECT span_id, string_agg(DISTINCT evaluator, ', ' ORDER BY evaluator) AS failed
            FROM scores WHERE NOT passed AND list_contains($checks, evaluator) GROUP BY span_id),
        signals AS (
            SELECT span_id, 'regeneration' AS kind, next_at AS observed_time,
                   'same question asked again ' || round(gap_s)::BIGINT || ' s later' AS explanation
            FROM compared WHERE q != '' AND next_q = q AND gap_s <= $regeneration_s
            UNION ALL
            SELECT span_id, 'rephrase', next_at,
                   'question rephrased ' || round(gap_s)::BIGINT || ' s later (word overlap '
                   || round(similarity, 2) || ')'
            FROM compared WHERE next_q != q AND similarity >= $similarity AND gap_s <= $rephrase_s
            UNION ALL
            SELECT c.span_id, 'abandonment', c.answered_at + to_microseconds(($abandon_s * 1e6)::BIGINT),
                   'session ended after an answer that failed ' || f.failed
            FROM compared c JOIN failures f USING (span_id)
            WHERE c.next_at IS NULL OR epoch(c.next_at - c.answered_at) > $abandon_s)
        SELECT 'implicit-' || s.kind || '-' || s.span_id AS feedback_id, s.observed_time, s.kind,
               'implicit' AS source, s.kind AS label, 0.0 AS score, NULL AS value, NULL AS comment, s.explanation,
               'session' AS linked_by, r.span_id, r.trace_id, r.response_id, r.start_time AS response_time,
               r.session_id, r.user_id, r.route, r.prompt_version, r.request_model, r.response_model
        FROM signals s JOIN turn_calls r USING (span_id)
        WHERE s.observed_time >= $start AND s.observed_time < $end""",
                   params={"checks": implicit.abandonment_checks or [""],
                           "regeneration_s": implicit.regeneration_within_s,
                           "similarity": implicit.rephrase_min_similarity, "rephrase_s": implicit.rephrase_within_s,
                           "abandon_s": implicit.abandonment_after_s, "start": start, "end": end}).to_arrow_table()


def build_user_feedback(con: duckdb.DuckDBPyConnection, events: pa.Table | None, responses: pa.Table | None,
                        turn_calls: pa.Table | None, scores: pa.Table | None, start: datetime, end: datetime,
                        settings: FeedbackSettings) -> FeedbackBuild:
    """Explicit feedback of the hour linked to its calls, plus the implicit signals observable in it."""
    _register(con, "events", events, FEEDBACK_EVENTS.names, FEEDBACK_EVENTS)
    _register(con, "responses", responses, RESPONSE_COLUMNS, TRACES)
    _register(con, "turn_calls", turn_calls, TURN_COLUMNS, TRACES)
    _register(con, "scores", scores, SCORE_COLUMNS, PROGRAMMATIC_SCORES)
    try:
        linked, quarantine = link_explicit(con)
        implicit = implicit_signals(con, start, end, settings)
    finally:
        for name in ("events", "responses", "turn_calls", "scores"):
            con.unregister(name)
    rows = pa.concat_tables([linked.cast(USER_FEEDBACK), implicit.cast(USER_FEEDBACK)])
    order = pc.sort_indices(rows, [("observed_time", "ascending"), ("feedback_id", "ascending")])
    return FeedbackBuild(rows.take(order), quarantine.cast(FEEDBACK_QUARANTINE))


def kind_counts(rows: pa.Table) -> dict[str, int]:
    grouped = rows.group_by("kind").aggregate([("kind", "count")])
    return dict(zip(grouped.column("kind").to_pylist(), grouped.column("kind_count").to_pylist(), strict=True))


def thumbs_down_share(rows: pa.Table) -> float:
    thumbs = rows.filter(pc.equal(rows.column("kind"), "thumbs"))
    return pc.sum(pc.equal(thumbs.column("label"), "down")).as_py() / thumbs.num_rows if thumbs.num_rows else 0.0
