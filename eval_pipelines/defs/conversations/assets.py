"""Stage ``conversations``: the sessions that closed in the hour, with the signals of their turns, and the agent
runs that started in it."""

from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.conversations import agents
from eval_pipelines.conversations.sessions import CALL_COLUMNS, FEEDBACK_COLUMNS, SCORE_COLUMNS, build_sessions
from eval_pipelines.conversations.summary import agent_metadata, session_metadata
from eval_pipelines.defs.metadata import column_schema
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import ConversationsConfigResource, LakeResource
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines.schemas import TRACES


@dg.asset(
    description="One row per conversation, in the hour it closed (idle for idle_minutes): turns, transcript, "
                "escalation, frustration, repeated questions, failed checks and feedback.",
    group_name="conversations",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces", "programmatic_scores", "user_feedback"],
    metadata={"dagster/column_schema": column_schema("sessions")},
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def sessions(context: dg.AssetExecutionContext, lake: LakeResource, conversations: ConversationsConfigResource,
             duckdb: DuckDBResource) -> dg.MaterializeResult:
    settings = conversations.settings()
    for key in context.partition_keys:
        hour = hour_index(key)
        window = [hour_key(h) for h in range(hour - settings.lookback_hours, hour + 1)]
        store = lake.lake
        calls = store.read_partitions("traces", "hour", window, CALL_COLUMNS)
        if calls is None:
            calls = TRACES.empty_table().select(CALL_COLUMNS)
        start = hourly_partitions.time_window_for_partition_key(key).start
        with duckdb.get_connection() as con:
            closed = build_sessions(con, calls, store.read_partitions("programmatic_scores", "hour", window,
                                                                      SCORE_COLUMNS),
                                    store.read_partitions("user_feedback", "hour", window, FEEDBACK_COLUMNS),
                                    start, start + timedelta(hours=1), datetime.now(UTC), settings)
        write = store.write_partition("sessions", "hour", key, closed)
        metadata = session_metadata(closed)
        context.log.info(f"sessions {key}: {closed.num_rows} closed from {calls.num_rows} calls of "
                         f"{len(window)} hours; " + ", ".join(f"{name} {value}" for name, value in metadata.items()))
        context.add_asset_metadata({"dagster/row_count": closed.num_rows, **metadata,
                                    "path": dg.MetadataValue.path(str(write.path))}, partition_key=key)
    return dg.MaterializeResult()


@dg.asset(
    description="One row per trace whose model took several steps or called tools, in the hour it started: steps, "
                "tools called, loops, tool calls that break the declared tools, errors, tokens and cost.",
    group_name="conversations",
    kinds={"parquet", "duckdb"},
    partitions_def=hourly_partitions,
    deps=["traces"],
    metadata={"dagster/column_schema": column_schema("agent_runs")},
    backfill_policy=HOURLY_BACKFILL_POLICY,
)
def agent_runs(context: dg.AssetExecutionContext, lake: LakeResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    for key in context.partition_keys:
        hour = hour_index(key)
        # The next hour too: a run that started before the hour ended keeps its later steps.
        calls = lake.lake.read_partitions("traces", "hour", [key, hour_key(hour + 1)], agents.CALL_COLUMNS)
        if calls is None:
            calls = TRACES.empty_table().select(agents.CALL_COLUMNS)
        start = hourly_partitions.time_window_for_partition_key(key).start
        with duckdb.get_connection() as con:
            runs = agents.build_agent_runs(con, calls, start, start + timedelta(hours=1))
        write = lake.lake.write_partition("agent_runs", "hour", key, runs)
        metadata = agent_metadata(runs)
        context.log.info(f"agent_runs {key}: {runs.num_rows} runs; "
                         + ", ".join(f"{name} {value}" for name, value in metadata.items()))
        context.add_asset_metadata({"dagster/row_count": runs.num_rows, **metadata,
                                    "path": dg.MetadataValue.path(str(write.path))}, partition_key=key)
    return dg.MaterializeResult()
