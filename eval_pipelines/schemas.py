"""The canonical tables, defined once: every writer and reader imports its schema from here."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
STRING_LIST = pa.list_(pa.string())

# A traces row's content: everything parsed and resolved from the landing files.
TRACE_CONTENT = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),
    pa.field("trace_id", pa.string(), nullable=False),
    ("parent_span_id", pa.string()),
    ("session_id", pa.string()),
    ("user_id", pa.string()),
    pa.field("start_time", TIMESTAMP, nullable=False),
    ("end_time", TIMESTAMP),
    ("duration_ms", pa.float64()),
    ("service_name", pa.string()),
    ("environment", pa.string()),
    ("operation", pa.string()),
    ("provider", pa.string()),
    ("request_model", pa.string()),
    ("response_model", pa.string()),
    ("response_id", pa.string()),
    ("prompt_version", pa.string()),
    ("route", pa.string()),
    ("dimensions", pa.string()),
    ("input_messages", pa.string()),
    ("output_messages", pa.string()),
    ("input_text", pa.string()),
    ("output_text", pa.string()),
    ("system_instructions", pa.string()),
    ("retrieved_context", pa.string()),
    ("tool_calls", pa.string()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("finish_reasons", STRING_LIST),
    ("status_code", pa.string()),
    ("error_type", pa.string()),
    ("request_params", pa.string()),
    ("attributes", pa.string()),
    ("parse_warnings", STRING_LIST),
    ("source_format", pa.string()),
    ("source_file", pa.string()),
])
# Arrival stamps: ``row_hash`` identifies the content (an unchanged row keeps its stamps when its hour is
# rebuilt, a changed one is new again), ``landed_at`` is when its landing file was written, ``ingested_at``
# when this content first became a row. Derived tables keep ``input_hash`` to know which rows they are
# already up to date with.
ARRIVAL = [("row_hash", pa.uint64()), ("landed_at", TIMESTAMP), ("ingested_at", TIMESTAMP)]
TRACES = pa.schema([*TRACE_CONTENT, *ARRIVAL])

TRACE_QUARANTINE = pa.schema([
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("raw", pa.string()),
    ("source_format", pa.string()),
])

TRACE_VALIDATION = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),
    ("trace_id", pa.string()),
    ("start_time", TIMESTAMP),
    ("passed", pa.bool_()),
    ("reasons", STRING_LIST),
    ("input_hash", pa.uint64()),
])

_SLICE_COLUMNS = [
    ("route", pa.string()),
    ("prompt_version", pa.string()),
    ("request_model", pa.string()),
    ("response_model", pa.string()),
]

PROGRAMMATIC_SCORES = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),
    ("trace_id", pa.string()),
    ("start_time", TIMESTAMP),
    *_SLICE_COLUMNS,
    pa.field("evaluator", pa.string(), nullable=False),
    ("evaluator_version", pa.int32()),
    ("settings_hash", pa.string()),
    ("score", pa.float64()),
    ("label", pa.string()),
    ("passed", pa.bool_()),
    ("explanation", pa.string()),
    ("input_hash", pa.uint64()),
])

_FEEDBACK_COLUMNS = [
    pa.field("feedback_id", pa.string(), nullable=False),
    ("kind", pa.string()),
    ("label", pa.string()),
    ("score", pa.float64()),
    ("value", pa.string()),
    ("comment", pa.string()),
    ("span_id", pa.string()),
    ("trace_id", pa.string()),
    ("response_id", pa.string()),
    ("user_id", pa.string()),
    ("source", pa.string()),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
]
# Explicit feedback as landed (from trace files and feedback files), before it is linked.
FEEDBACK_EVENTS = pa.schema([pa.field("observed_time", TIMESTAMP, nullable=False), *_FEEDBACK_COLUMNS])

# Linked feedback and implicit signals, with the slice of the response they are about.
USER_FEEDBACK = pa.schema([
    pa.field("feedback_id", pa.string(), nullable=False),
    pa.field("observed_time", TIMESTAMP, nullable=False),
    ("kind", pa.string()),
    ("source", pa.string()),
    ("label", pa.string()),
    ("score", pa.float64()),
    ("value", pa.string()),
    ("comment", pa.string()),
    ("explanation", pa.string()),
    ("linked_by", pa.string()),
    ("span_id", pa.string()),
    ("trace_id", pa.string()),
    ("response_id", pa.string()),
    ("response_time", TIMESTAMP),
    ("session_id", pa.string()),
    ("user_id", pa.string()),
    ("route", pa.string()),
    ("prompt_version", pa.string()),
    ("request_model", pa.string()),
    ("response_model", pa.string()),
])

# One row per conversation, in the hour it closed (``eval_pipelines.conversations.sessions``).
SESSIONS = pa.schema([
    pa.field("session_key", pa.string(), nullable=False),
    ("session_id", pa.string()),
    ("user_ids", STRING_LIST),
    ("first_time", TIMESTAMP),
    ("last_time", TIMESTAMP),
    ("closed_at", TIMESTAMP),
    ("ended_explicitly", pa.bool_()),  # the app marked its last turn as the end (else it closed on idle time)
    ("duration_s", pa.float64()),
    ("turns", pa.int64()),
    ("calls", pa.int64()),
    *_SLICE_COLUMNS,
    ("routes", STRING_LIST),
    ("prompt_versions", STRING_LIST),
    ("models", STRING_LIST),
    ("errors", pa.int64()),
    ("tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("failed_calls", pa.int64()),
    ("failed_checks", STRING_LIST),
    ("repeated_questions", pa.int64()),
    ("escalated", pa.bool_()),
    ("escalation", pa.string()),
    ("frustration_markers", STRING_LIST),
    ("thumbs_up", pa.int64()),
    ("thumbs_down", pa.int64()),
    ("regenerations", pa.int64()),
    ("rephrases", pa.int64()),
    ("abandoned", pa.bool_()),
    ("window_truncated", pa.bool_()),
    ("transcript", pa.string()),
    ("transcript_truncated", pa.bool_()),
])

# One row per trace whose model took several steps or called tools, in the hour its first call started
# (``eval_pipelines.conversations.agents``).
AGENT_RUNS = pa.schema([
    pa.field("trace_id", pa.string(), nullable=False),
    ("session_id", pa.string()),
    ("first_time", TIMESTAMP),
    ("last_time", TIMESTAMP),
    ("duration_s", pa.float64()),
    *_SLICE_COLUMNS,
    ("steps", pa.int64()),
    ("tool_calls", pa.int64()),
    ("tools", STRING_LIST),
    ("loops", pa.int64()),
    ("declared_tools", pa.int64()),
    ("invalid_tool_calls", pa.int64()),
    ("tool_call_problems", STRING_LIST),
    ("tool_executions", pa.int64()),
    ("tool_errors", pa.int64()),
    ("tool_error_messages", STRING_LIST),
    ("tool_time_s", pa.float64()),
    ("errors", pa.int64()),
    ("tokens", pa.int64()),
    ("cost_usd", pa.float64()),
])

# One tool execution (an OTel GenAI ``execute_tool``, OpenInference TOOL or Vercel AI SDK ``ai.toolCall`` span).
_TOOL_SPAN_COLUMNS = [
    ("tool_name", pa.string()),
    ("tool_call_id", pa.string()),
    ("arguments", pa.string()),
    ("result", pa.string()),
    ("status_code", pa.string()),
    ("error_type", pa.string()),
    ("service_name", pa.string()),
    ("source_format", pa.string()),
    ("source_file", pa.string()),
]
TOOL_SPANS = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),
    pa.field("trace_id", pa.string(), nullable=False),
    ("parent_span_id", pa.string()),
    pa.field("start_time", TIMESTAMP, nullable=False),
    ("end_time", TIMESTAMP),
    ("duration_ms", pa.float64()),
    *_TOOL_SPAN_COLUMNS,
])

FEEDBACK_QUARANTINE = pa.schema([
    ("feedback_id", pa.string()),
    ("observed_time", TIMESTAMP),
    ("kind", pa.string()),
    ("span_id", pa.string()),
    ("trace_id", pa.string()),
    ("response_id", pa.string()),
    ("reason", pa.string()),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
])

# The hour's judge sample: every row records how likely it was to be drawn (Horvitz-Thompson weights).
JUDGE_SAMPLE = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),
    ("trace_id", pa.string()),
    ("start_time", TIMESTAMP),
    *_SLICE_COLUMNS,
    ("stratum", pa.string()),
    ("stratum_size", pa.int64()),
    ("stratum_sampled", pa.int64()),
    ("inclusion_probability", pa.float64()),
    ("priority", pa.bool_()),
    ("priority_reasons", STRING_LIST),
    ("draw", pa.float64()),
])

# The sampling rate of each stratum of an hour, decided when the stratum is first seen and then kept, so
# the hour's sample has exact inclusion probabilities however its traffic arrives.
JUDGE_SAMPLING_RATES = pa.schema([
    pa.field("hour_start", TIMESTAMP, nullable=False),
    pa.field("stratum", pa.string(), nullable=False),
    ("expected_volume", pa.float64()),
    ("rate", pa.float64()),
    ("decided_at", TIMESTAMP),
])

# One row per sampled request and applicable rubric; a failed or skipped call is a row with its status. In
# ``conversation_judge_scores`` a row is a sampled session (``span_id`` holds its session key, ``start_time`` the
# minute it closed) or agent run (``span_id`` and ``trace_id`` hold its trace id).
JUDGE_SCORES = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),
    ("trace_id", pa.string()),
    ("start_time", TIMESTAMP),
    *_SLICE_COLUMNS,
    ("stratum", pa.string()),
    ("inclusion_probability", pa.float64()),
    ("priority", pa.bool_()),
    pa.field("rubric", pa.string(), nullable=False),
    ("rubric_version", pa.int32()),
    ("judge_version", pa.string()),
    ("judge_model", pa.string()),
    ("judge_response_model", pa.string()),
    ("status", pa.string()),
    ("parse_status", pa.string()),
    ("label", pa.string()),
    ("score", pa.float64()),
    ("passed", pa.bool_()),
    ("explanation", pa.string()),
    ("raw_reply", pa.string()),
    ("error", pa.string()),
    ("injection_markers", STRING_LIST),
    ("redactions", pa.int32()),
    ("cache_key", pa.string()),
    ("cached", pa.bool_()),
    ("attempts", pa.int32()),
    ("latency_ms", pa.float64()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("judged_at", TIMESTAMP),
])

# Reviewers' labels as dropped in labels/ (latest per reviewer, item and rubric), and what could not be used.
HUMAN_LABELS = pa.schema([
    pa.field("label_id", pa.string(), nullable=False),
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("rubric", pa.string(), nullable=False),
    ("label", pa.string()),
    ("score", pa.float64()),
    ("passed", pa.bool_()),
    ("reviewer_id", pa.string()),
    ("labelled_at", TIMESTAMP),
    ("comment", pa.string()),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
])
LABEL_QUARANTINE = pa.schema([
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("reason", pa.string()),
    ("raw", pa.string()),
])
RESOLVED_LABELS = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("rubric", pa.string(), nullable=False),
    ("label", pa.string()),
    ("passed", pa.bool_()),
    ("score", pa.float64()),
    ("reviewers", pa.int64()),
    ("tie", pa.bool_()),
    ("labels", STRING_LIST),
])

# One row per calibration run, rubric and slice: the judge measured against human labels.
JUDGE_CALIBRATION = pa.schema([
    pa.field("run_time", TIMESTAMP, nullable=False),
    ("judge_version", pa.string()),
    ("judge_model", pa.string()),
    pa.field("rubric", pa.string(), nullable=False),
    ("slice", pa.string()),
    ("n", pa.int64()),
    *[(f"{name}{suffix}", pa.float64()) for name in ("accuracy", "cohen_kappa", "macro_f1")
      for suffix in ("", "_low", "_high")],
    ("macro_precision", pa.float64()),
    ("macro_recall", pa.float64()),
    *[(f"{name}{suffix}", pa.float64()) for name in ("tpr", "tnr") for suffix in ("", "_low", "_high")],
    ("n_pass", pa.int64()),
    ("n_fail", pa.int64()),
    ("youden_j", pa.float64()),
    ("n_scored", pa.int64()),
    ("spearman", pa.float64()),
    ("kendall", pa.float64()),
    ("krippendorff_alpha", pa.float64()),
    ("krippendorff_alpha_low", pa.float64()),
    ("krippendorff_alpha_high", pa.float64()),
    ("length_bias_rho", pa.float64()),
    ("length_bias_p", pa.float64()),
    ("position_pairs", pa.int64()),
    ("position_consistency", pa.float64()),
    ("first_position_rate", pa.float64()),
    ("labels", STRING_LIST),
    ("confusion", pa.string()),
    ("reviewer_items", pa.int64()),
    ("reviewer_agreement", pa.float64()),
    ("reviewer_alpha", pa.float64()),
    ("ties", pa.int64()),
])

# The canary items' verdicts per day: compared with the first day of the same judge version.
JUDGE_CANARY = pa.schema([
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("rubric", pa.string(), nullable=False),
    ("judge_version", pa.string()),
    ("status", pa.string()),
    ("label", pa.string()),
    ("score", pa.float64()),
    ("judged_at", TIMESTAMP),
])

# Quality SLIs per hour and slice, long format: one row per slice and SLI.
QUALITY_SLIS = pa.schema([
    pa.field("hour_start", TIMESTAMP, nullable=False),  # not "hour": that is the partition key in scans
    # The window the row measures: the whole hour (60), one of its minutes (1), or a day (1440).
    pa.field("window_start", TIMESTAMP, nullable=False),
    pa.field("window_minutes", pa.int32(), nullable=False),
    ("dimension", pa.string()),
    ("slice", pa.string()),
    ("route", pa.string()),
    ("prompt_version", pa.string()),
    ("model", pa.string()),
    pa.field("sli", pa.string(), nullable=False),
    ("numerator", pa.float64()),
    ("denominator", pa.float64()),
    ("value", pa.float64()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
    ("low_sample", pa.bool_()),
])

# Every incident opened or resolved, with its evidence and where it was delivered: ``evaluated_at`` is the
# time the rules were evaluated at (the end of their windows), ``event_time`` when the event was emitted.
ALERTS = pa.schema([
    pa.field("event_time", TIMESTAMP, nullable=False),
    pa.field("hour_start", TIMESTAMP, nullable=False),
    pa.field("evaluated_at", TIMESTAMP, nullable=False),
    ("event", pa.string()),
    ("key", pa.string()),
    ("rule", pa.string()),
    ("slice", pa.string()),
    ("severity", pa.string()),
    ("message", pa.string()),
    ("details", pa.string()),
    ("dedup_key", pa.string()),
    ("deliveries", pa.string()),
])

# The human review queue: one row per queued request, judged session or agent run, why it was queued, and whether
# it is control.
REVIEW_QUEUE = pa.schema([
    pa.field("span_id", pa.string(), nullable=False),  # a session's key or an agent run's trace id for those units
    ("unit", pa.string()),  # call, session or agent_run
    ("trace_id", pa.string()),
    ("session_id", pa.string()),
    ("start_time", TIMESTAMP),
    ("route", pa.string()),
    ("prompt_version", pa.string()),
    ("model", pa.string()),
    ("input_text", pa.string()),
    ("output_text", pa.string()),
    ("input_messages", pa.string()),
    ("retrieved_context", pa.string()),
    ("reasons", STRING_LIST),
    ("priority", pa.int32()),
    ("control", pa.bool_()),
    ("inclusion_probability", pa.float64()),
    ("alert_keys", STRING_LIST),
    ("failed_evaluators", STRING_LIST),
    ("judge_verdicts", pa.string()),
    ("dedup_key", pa.string()),
])

# Offline scores: the production evaluators and judge on candidates' outputs for the golden set, and
# teams' own offline results; one row per item, candidate (model × prompt version) and metric.
OFFLINE_SCORES = pa.schema([
    ("source", pa.string()),  # golden_vN (evaluated here) or the team's results file
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    pa.field("item_id", pa.string(), nullable=False),
    ("route", pa.string()),
    pa.field("metric", pa.string(), nullable=False),
    ("metric_version", pa.string()),
    ("passed", pa.bool_()),
    ("score", pa.float64()),
    ("status", pa.string()),
])

OFFLINE_QUARANTINE = LABEL_QUARANTINE  # the same shape: a file row that could not be used, and why

# Online next to offline per day, model × prompt version, metric and offline source.
ONLINE_OFFLINE_DIVERGENCE = pa.schema([
    pa.field("day", pa.date32(), nullable=False),
    ("model", pa.string()),
    ("prompt_version", pa.string()),
    pa.field("metric", pa.string(), nullable=False),
    ("offline_source", pa.string()),
    ("online_n", pa.int64()),
    ("online_rate", pa.float64()),
    ("offline_n", pa.int64()),
    ("offline_rate", pa.float64()),
    ("gap", pa.float64()),
    ("gap_low", pa.float64()),
    ("gap_high", pa.float64()),
])

# Staging: what parsing writes before spans are joined into trace rows (internal, per run).
STAGED_LLM = pa.schema([
    ("span_id", pa.string()), ("trace_id", pa.string()), ("parent_span_id", pa.string()),
    ("start_ns", pa.int64()), ("end_ns", pa.int64()),
    ("service_name", pa.string()), ("environment", pa.string()),
    ("operation", pa.string()), ("provider", pa.string()), ("request_model", pa.string()),
    ("response_model", pa.string()), ("response_id", pa.string()),
    ("input_messages", pa.string()), ("output_messages", pa.string()), ("input_text", pa.string()),
    ("output_text", pa.string()), ("system_instructions", pa.string()), ("tool_calls", pa.string()),
    ("finish_reasons", STRING_LIST), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("status_code", pa.string()), ("error_type", pa.string()), ("request_params", pa.string()),
    ("attributes", pa.string()), ("retrieved_context", pa.string()), ("parse_warnings", STRING_LIST),
    ("source_format", pa.string()), ("lookups", STRING_LIST),
    ("source_file", pa.string()), ("source_line", pa.int64()),
])
STAGED_TREE = pa.schema([
    ("trace_id", pa.string()), ("span_id", pa.string()), ("parent_span_id", pa.string()),
    ("start_ns", pa.int64()), ("lookups", STRING_LIST),
    ("documents", pa.string()), ("source_file", pa.string()), ("source_line", pa.int64()),
])
STAGED_TOOL = pa.schema([
    ("span_id", pa.string()), ("trace_id", pa.string()), ("parent_span_id", pa.string()),
    ("start_ns", pa.int64()), ("end_ns", pa.int64()), *_TOOL_SPAN_COLUMNS, ("source_line", pa.int64()),
])
STAGED_EVENT = pa.schema([
    ("trace_id", pa.string()), ("span_id", pa.string()), ("time_ns", pa.int64()), ("seq", pa.int64()),
    ("name", pa.string()), ("role", pa.string()), ("message", pa.string()),
    ("input_messages", pa.string()), ("output_messages", pa.string()),
    ("system_instructions", pa.string()), ("source_file", pa.string()),
])
STAGED_FEEDBACK = pa.schema([("time_ns", pa.int64()), *_FEEDBACK_COLUMNS])
STAGED_SCHEMAS = {
    "feedback": STAGED_FEEDBACK,
    "llm": STAGED_LLM,
    "tree": STAGED_TREE,
    "tool": STAGED_TOOL,
    "event": STAGED_EVENT,
    "quarantine": TRACE_QUARANTINE,
}


@dataclass(frozen=True)
class LakeTable:
    """A table of the lake: its columns, and what its partitions are (``hour``, ``day``, ``run`` or ``snapshot``)."""

    schema: pa.Schema
    partitioned_by: str


# Every table the pipeline writes, by name: a write that does not match its entry is refused (Lake.write_partition).
TABLES: dict[str, LakeTable] = {
    **{name: LakeTable(schema, "hour") for name, schema in (
        ("traces", TRACES), ("trace_quarantine", TRACE_QUARANTINE), ("feedback_events", FEEDBACK_EVENTS),
        ("tool_spans", TOOL_SPANS),
        ("trace_validation", TRACE_VALIDATION), ("programmatic_scores", PROGRAMMATIC_SCORES),
        ("user_feedback", USER_FEEDBACK), ("feedback_quarantine", FEEDBACK_QUARANTINE), ("sessions", SESSIONS),
        ("agent_runs", AGENT_RUNS), ("conversation_judge_scores", JUDGE_SCORES),
        ("judge_sample", JUDGE_SAMPLE), ("judge_sampling_rates", JUDGE_SAMPLING_RATES), ("judge_scores", JUDGE_SCORES),
        ("quality_slis", QUALITY_SLIS), ("alerts", ALERTS), ("review_queue", REVIEW_QUEUE))},
    **{name: LakeTable(schema, "day") for name, schema in (
        ("judge_canary", JUDGE_CANARY), ("canary_scores", QUALITY_SLIS), ("drift_scores", QUALITY_SLIS),
        ("daily_alerts", ALERTS), ("online_offline_divergence", ONLINE_OFFLINE_DIVERGENCE),
        ("divergence_scores", QUALITY_SLIS))},
    **{name: LakeTable(schema, "snapshot") for name, schema in (
        ("human_labels", HUMAN_LABELS), ("label_quarantine", LABEL_QUARANTINE),
        ("judge_calibration_scores", JUDGE_SCORES), ("offline_scores", OFFLINE_SCORES),
        ("offline_quarantine", OFFLINE_QUARANTINE), ("offline_judge_scores", JUDGE_SCORES))},
    "judge_calibration": LakeTable(JUDGE_CALIBRATION, "run"),
}


def schema_differences(actual: pa.Schema, expected: pa.Schema) -> list[str]:
    """How ``actual`` differs from ``expected`` in column names, order and types (nullability aside)."""
    problems = [f"missing {name}" for name in expected.names if name not in actual.names]
    problems += [f"unexpected {name}" for name in actual.names if name not in expected.names]
    problems += [f"{field.name} is {field.type}, not {expected.field(field.name).type}" for field in actual
                 if field.name in expected.names and not field.type.equals(expected.field(field.name).type)]
    if not problems and actual.names != expected.names:
        problems.append(f"columns in the order {', '.join(actual.names)}")
    return problems
