"""``sessions`` rows: the LLM calls sharing a session id, cut where the conversation was idle, one row per session
in the hour it closed.

A turn is one trace of the session (its first call's input is the user's question, its last call's output the
answer). A session closes ``idle_minutes`` after its last turn was answered, or when that turn is answered if the
app marked it as the end (``end_dimension``); a turn after that starts a new session. So the session rows of an
hour depend only on the calls up to the end of that hour: a late turn moves a session to the hour it now closes
in, and rebuilding both hours leaves it counted once.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from eval_pipelines.conversations.settings import ConversationSettings
from eval_pipelines.feedback.signals import NORMALISED
from eval_pipelines.schemas import PROGRAMMATIC_SCORES, SESSIONS, USER_FEEDBACK

CALL_COLUMNS = ["span_id", "trace_id", "session_id", "user_id", "start_time", "end_time", "route", "prompt_version",
                "request_model", "response_model", "input_text", "output_text", "tool_calls", "status_code",
                "input_tokens", "output_tokens", "cost_usd", "dimensions"]
SCORE_COLUMNS = ["span_id", "evaluator", "passed"]
FEEDBACK_COLUMNS = ["span_id", "session_id", "kind", "label"]

_WORDS = f"list_distinct(string_split({NORMALISED.format('question')}, ' '))"

_SESSIONS_SQL = f"""
WITH turns AS (
    SELECT session_id, trace_id, min(start_time) AS asked_at, max(coalesce(end_time, start_time)) AS answered_at,
           count(*) AS calls, arg_min(input_text, start_time) AS question, arg_max(output_text, start_time) AS answer,
           arg_max(route, start_time) AS route, arg_max(prompt_version, start_time) AS prompt_version,
           arg_max(request_model, start_time) AS request_model, arg_max(response_model, start_time) AS response_model,
           list(DISTINCT user_id) FILTER (user_id IS NOT NULL) AS users,
           count(*) FILTER (status_code = 'ERROR') AS errors,
           sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) AS tokens, sum(cost_usd) AS cost_usd,
           flatten(list(coalesce(try_cast(json_extract_string(tool_calls, '$[*].name') AS VARCHAR[]), [])))
               AS tools,
           coalesce(bool_or(lower(json_extract_string(dimensions, $end_path)) IN ('true', '1', 'yes')), false)
               AS ends_session
    FROM session_calls WHERE coalesce(session_id, '') <> '' AND start_time < $end GROUP BY session_id, trace_id),
gaps AS (
    SELECT *, CASE WHEN asked_at - max(answered_at) OVER before > $idle OR lag(ends_session, 1, false) OVER ordered
                   THEN 1 ELSE 0 END AS starts_session
    FROM turns
    WINDOW ordered AS (PARTITION BY session_id ORDER BY asked_at, trace_id),
           before AS (ordered ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
numbered AS (
    SELECT *, sum(starts_session) OVER (PARTITION BY session_id ORDER BY asked_at, trace_id) AS segment,
           {_WORDS} AS words,
           list_filter($frustration::VARCHAR[], lambda p: contains(lower(coalesce(question, '')), p))
               AS frustration_markers,
           list_filter($escalation_phrases::VARCHAR[], lambda p: contains(lower(coalesce(question, '')), p))
               AS asked_for_human,
           list_filter(tools, lambda t: list_contains($escalation_tools::VARCHAR[], t)) AS handoff_tools
    FROM gaps),
sessions AS (
    SELECT * FROM (
        SELECT session_id, segment, min(asked_at) AS first_time, max(answered_at) AS last_time,
               bool_or(ends_session) AS ended, max(answered_at) + CASE WHEN bool_or(ends_session)
                   THEN INTERVAL 0 SECOND ELSE $idle END AS closed_at,
               count(*) AS turns, sum(calls)::BIGINT AS calls
        FROM numbered GROUP BY session_id, segment)
    WHERE closed_at >= $start AND closed_at < $end AND closed_at <= $now),
turns_of AS (
    SELECT n.*, s.first_time, s.closed_at, s.ended,
           s.session_id || '/' || strftime(s.first_time, '%Y-%m-%dT%H:%M:%S.%fZ') AS session_key
    FROM numbered n JOIN sessions s USING (session_id, segment)),
repeats AS (
    SELECT a.session_key, count(DISTINCT a.trace_id) AS repeated_questions
    FROM turns_of a JOIN turns_of b ON a.session_key = b.session_key
         AND (b.asked_at, b.trace_id) < (a.asked_at, a.trace_id)
    WHERE len(a.words) > 0 AND len(b.words) > 0
      AND len(list_intersect(a.words, b.words)) / len(list_distinct(a.words || b.words)) >= $similarity
    GROUP BY a.session_key),
failures AS (
    SELECT t.session_key, count(DISTINCT c.span_id) AS failed_calls, list(DISTINCT sc.evaluator ORDER BY sc.evaluator)
           AS failed_checks
    FROM turns_of t JOIN session_calls c USING (session_id, trace_id) JOIN session_scores sc USING (span_id)
    WHERE NOT sc.passed GROUP BY t.session_key),
feedback AS (
    SELECT t.session_key,
           count(*) FILTER (f.kind = 'thumbs' AND f.label = 'up') AS thumbs_up,
           count(*) FILTER (f.kind = 'thumbs' AND f.label = 'down') AS thumbs_down,
           count(*) FILTER (f.kind = 'regeneration') AS regenerations,
           count(*) FILTER (f.kind = 'rephrase') AS rephrases,
           count(*) FILTER (f.kind = 'abandonment') > 0 AS abandoned
    FROM turns_of t JOIN session_calls c USING (session_id, trace_id) JOIN session_feedback f USING (span_id)
    GROUP BY t.session_key)
SELECT t.session_key, any_value(t.session_id) AS session_id,
       list_sort(list_distinct(flatten(list(t.users)))) AS user_ids,
       any_value(t.first_time) AS first_time, max(t.answered_at) AS last_time, any_value(t.closed_at) AS closed_at,
       any_value(t.ended) AS ended_explicitly,
       epoch(max(t.answered_at) - any_value(t.first_time)) AS duration_s,
       count(*) AS turns, sum(t.calls)::BIGINT AS calls,
       arg_max(t.route, t.asked_at) AS route, arg_max(t.prompt_version, t.asked_at) AS prompt_version,
       arg_max(t.request_model, t.asked_at) AS request_model, arg_max(t.response_model, t.asked_at) AS response_model,
       list_sort(list_distinct(list(t.route) FILTER (t.route IS NOT NULL))) AS routes,
       list_sort(list_distinct(list(t.prompt_version) FILTER (t.prompt_version IS NOT NULL))) AS prompt_versions,
       list_sort(list_distinct(list(coalesce(t.response_model, t.request_model))
                 FILTER (coalesce(t.response_model, t.request_model) IS NOT NULL))) AS models,
       sum(t.errors)::BIGINT AS errors, sum(t.tokens)::BIGINT AS tokens, sum(t.cost_usd) AS cost_usd,
       coalesce(any_value(f.failed_calls), 0) AS failed_calls,
       coalesce(any_value(f.failed_checks), []) AS failed_checks,
       coalesce(any_value(r.repeated_questions), 0) AS repeated_questions,
       len(flatten(list(t.asked_for_human))) + len(flatten(list(t.handoff_tools))) > 0 AS escalated,
       coalesce(flatten(list(t.asked_for_human ORDER BY t.asked_at))[1],
                'tool ' || flatten(list(t.handoff_tools ORDER BY t.asked_at))[1]) AS escalation,
       list_sort(list_distinct(flatten(list(t.frustration_markers)))) AS frustration_markers,
       coalesce(any_value(fb.thumbs_up), 0) AS thumbs_up, coalesce(any_value(fb.thumbs_down), 0) AS thumbs_down,
       coalesce(any_value(fb.regenerations), 0) AS regenerations, coalesce(any_value(fb.rephrases), 0) AS rephrases,
       coalesce(any_value(fb.abandoned), false) AS abandoned,
       any_value(t.first_time) < $window_start + $idle AS window_truncated,
       to_json(list({{'at': t.asked_at, 'user': t.question, 'assistant': t.answer}} ORDER BY t.asked_at, t.trace_id))
           AS transcript
FROM turns_of t LEFT JOIN failures f USING (session_key) LEFT JOIN repeats r USING (session_key)
     LEFT JOIN feedback fb USING (session_key)
GROUP BY t.session_key
ORDER BY closed_at, session_key
"""


def build_sessions(con: duckdb.DuckDBPyConnection, calls: pa.Table, scores: pa.Table | None,
                   feedback: pa.Table | None, start: datetime, end: datetime, now: datetime,
                   settings: ConversationSettings) -> pa.Table:
    """The sessions closing in ``[start, end)`` (and by ``now``), from the calls of the lookback window (those
    from ``end`` on are left out): schema ``SESSIONS``."""
    con.register("session_calls", calls.select(CALL_COLUMNS))
    con.register("session_scores", _columns(scores, PROGRAMMATIC_SCORES, SCORE_COLUMNS))
    con.register("session_feedback", _columns(feedback, USER_FEEDBACK, FEEDBACK_COLUMNS))
    idle = timedelta(minutes=settings.idle_minutes)
    window_start = end - timedelta(hours=settings.lookback_hours + 1)
    rows = con.sql(_SESSIONS_SQL, params={
        "idle": idle, "end_path": f'$."{settings.end_dimension}"' if settings.end_dimension else None,
        "start": start, "end": end, "now": now, "window_start": window_start,
        "similarity": settings.repeated_question_min_similarity,
        "frustration": [phrase.lower() for phrase in settings.frustration.phrases],
        "escalation_phrases": [phrase.lower() for phrase in settings.escalation.phrases],
        "escalation_tools": settings.escalation.tools,
    }).to_arrow_table()
    return _bounded_transcripts(rows, settings.transcript_max_chars).cast(SESSIONS)


def _columns(table: pa.Table | None, schema: pa.Schema, columns: list[str]) -> pa.Table:
    """``columns`` of ``table``, or an empty table of them where the hours have none."""
    return (table if table is not None else schema.empty_table()).select(columns)


def _bounded_transcripts(rows: pa.Table, max_chars: int) -> pa.Table:
    """Transcripts longer than ``max_chars`` keep their first turn and as many last turns as fit."""
    transcripts, truncated = [], []
    for text in rows.column("transcript").to_pylist():
        if text is None or len(text) <= max_chars:
            transcripts.append(text)
            truncated.append(False)
            continue
        turns = json.loads(text)
        kept = [_clipped(turns[0], max_chars // 2)]
        budget = max_chars - len(json.dumps(kept))
        tail = []
        for turn in reversed(turns[1:]):
            size = len(json.dumps(turn)) + 2
            if size > budget:
                break
            tail.insert(0, turn)
            budget -= size
        transcripts.append(json.dumps(kept + [{"omitted_turns": len(turns) - 1 - len(tail)}] + tail,
                                      ensure_ascii=False))
        truncated.append(True)
    position = rows.schema.get_field_index("transcript")
    rows = rows.set_column(position, "transcript", pa.array(transcripts, pa.string()))
    return rows.append_column("transcript_truncated", pa.array(truncated, pa.bool_()))


def _clipped(turn: dict, max_chars: int) -> dict:
    half = max(max_chars // 2 - 50, 10)
    return {key: value[:half] + "…" if isinstance(value, str) and len(value) > half else value
            for key, value in turn.items()}
