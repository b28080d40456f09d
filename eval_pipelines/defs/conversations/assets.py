"""Stage ``conversations``: the sessions that closed in the hour, with the signals of their turns, and the agent
runs that started in it."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from eval_pipelines.conversations import agents, sessions
from eval_pipelines.conversations.summary import agent_metadata, session_metadata
from eval_pipelines.defs.judgements import judged_hourly_asset, record_judgements
from eval_pipelines.defs.metadata import hourly_table_spec
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import ConversationsConfigResource, JudgeResource, LakeResource
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines.judge.conversations import draw_units, hour_agent_run_items, session_item
from eval_pipelines.judge.run import plan_items, verdict_cache

sessions_spec = hourly_table_spec(
    "sessions", "One row per conversation, in the hour it closed (idle for idle_minutes): turns, transcript, "
    "escalation, frustration, repeated questions, failed checks and feedback.", "conversations",
    kinds={"parquet", "duckdb"}, deps=["traces", "programmatic_scores", "user_feedback"])
agent_runs_spec = hourly_table_spec(
    "agent_runs", "One row per trace whose model took several steps or called tools, in the hour it started: "
    "steps, tools called and executed, loops, tool calls that break the declared tools, tool errors, errors, tokens "
    "and cost.", "conversations", kinds={"parquet", "duckdb"}, deps=["traces", "tool_spans"])
CALL_COLUMNS = list(dict.fromkeys([*sessions.CALL_COLUMNS, *agents.CALL_COLUMNS]))


@dg.multi_asset(specs=[sessions_spec, agent_runs_spec], can_subset=False, backfill_policy=HOURLY_BACKFILL_POLICY)
def conversation_tables(context: dg.AssetExecutionContext, lake: LakeResource,
                        conversations: ConversationsConfigResource, duckdb: DuckDBResource):
    """The hour's closed sessions and its agent runs, from one read of the calls around it."""
    settings = conversations.settings()
    for key in context.partition_keys:
        hour = hour_index(key)
        # Sessions look back over their turns; agent runs read on into the next hour for their later steps.
        lookback = [hour_key(h) for h in range(hour - settings.lookback_hours, hour + 1)]
        window = [*lookback, hour_key(hour + 1)]
        store = lake.lake
        calls = store.read_columns("traces", "hour", window, CALL_COLUMNS)
        start = hourly_partitions.time_window_for_partition_key(key).start
        end = start + timedelta(hours=1)
        with duckdb.get_connection() as con:
            # Scores and feedback of the hours up to this one only: a session's row depends on nothing after the
            # hour it closed in, so building the hours in pieces writes what one batch writes.
            closed = sessions.build_sessions(
                con, calls, store.read_partitions("programmatic_scores", "hour", lookback, sessions.SCORE_COLUMNS),
                store.read_partitions("user_feedback", "hour", lookback, sessions.FEEDBACK_COLUMNS),
                start, end, datetime.now(UTC), settings)
            tools = store.read_columns("tool_spans", "hour", [key, hour_key(hour + 1)], agents.TOOL_COLUMNS)
            runs = agents.build_agent_runs(con, calls, tools, start, end)
        _write(context, lake, key, "sessions", closed, session_metadata(closed))
        _write(context, lake, key, "agent_runs", runs, agent_metadata(runs))
    yield dg.MaterializeResult(asset_key=table_key(context, "sessions"))
    yield dg.MaterializeResult(asset_key=table_key(context, "agent_runs"))


def _write(context: dg.AssetExecutionContext, lake: LakeResource, key: str, table: str, rows: pa.Table,
           metadata: dict) -> None:
    write = lake.lake.write_partition(table, "hour", key, rows)
    context.log.info(f"{table} {key}: {rows.num_rows} rows; "
                     + ", ".join(f"{name} {value}" for name, value in metadata.items()))
    context.add_asset_metadata({"dagster/row_count": rows.num_rows, **metadata,
                                "path": dg.MetadataValue.path(str(write.path))},
                               asset_key=table_key(context, table), partition_key=key)


@judged_hourly_asset(
    "conversation_judge_scores", "Judge verdicts on a sample of the hour's closed sessions and agent runs: one row per "
    "unit and rubric (conversation_resolution, user_frustration, agent_trajectory), with inclusion probabilities.",
    "conversations", deps=["sessions", "agent_runs", "traces"])
def conversation_judge_scores(context: dg.AssetExecutionContext, lake: LakeResource, judge: JudgeResource,
                              duckdb: DuckDBResource, key: str) -> list[dg.AssetCheckResult]:
    """Samples the hour's sessions and agent runs, judges them, writes the partition; the hour's check results."""
    rubrics = judge.rubrics()
    settings = judge.settings(rubrics)
    endpoint = judge.endpoint()
    closed, runs = lake.required_partition("sessions", key), lake.required_partition("agent_runs", key)
    hour_start_us = int(hourly_partitions.time_window_for_partition_key(key).start.timestamp() * 1_000_000)
    sampling, now_us = settings.conversations, time.time_ns() // 1000
    with duckdb.get_connection() as con:
        session_sample = draw_units(con, closed, "session", sampling.sessions, settings.sampling.seed,
                                    hour_start_us, now_us).sample
        run_sample = draw_units(con, runs, "agent_run", sampling.agent_runs, settings.sampling.seed,
                                hour_start_us, now_us).sample
    sampled_sessions = set(session_sample.column("span_id").to_pylist())
    items = {row["session_key"]: session_item(row) for row in closed.to_pylist()
             if row["session_key"] in sampled_sessions}
    items |= hour_agent_run_items(lake.lake, key, run_sample.column("span_id").to_pylist())
    units = [*session_sample.to_pylist(), *run_sample.to_pylist()]
    plan = plan_items([(row, items[row["span_id"]], [rubrics[name] for name in settings.rubrics_for_route(
        row["route"])]) for row in units], settings.redact_pii, endpoint,
        verdict_cache(lake.lake.read_partition("conversation_judge_scores", "hour", key)))
    context.log.info(f"conversation_judge_scores {key}: sampled {session_sample.num_rows} of {closed.num_rows} "
                     f"sessions and {run_sample.num_rows} of {runs.num_rows} agent runs")
    context.add_asset_metadata({"sessions_sampled": session_sample.num_rows, "sessions_closed": closed.num_rows,
                                "agent_runs_sampled": run_sample.num_rows, "agent_runs": runs.num_rows},
                               partition_key=key)
    return record_judgements(context, lake, duckdb, key, "conversation_judge_scores", plan, endpoint,
                             settings.budget)
