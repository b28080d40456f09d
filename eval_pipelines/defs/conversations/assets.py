"""Stage ``conversations``: the sessions that closed in the hour, with the signals of their turns, and the agent
runs that started in it."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow as pa
from dagster_duckdb import DuckDBResource

from eval_pipelines.conversations import agents, sessions
from eval_pipelines.conversations.summary import agent_metadata, session_metadata
from eval_pipelines.defs.metadata import hourly_table_spec
from eval_pipelines.defs.naming import table_key
from eval_pipelines.defs.partitions import HOURLY_BACKFILL_POLICY, hourly_partitions
from eval_pipelines.defs.resources import ConversationsConfigResource, LakeResource
from eval_pipelines.hours import hour_index, hour_key
from eval_pipelines.schemas import TRACES

sessions_spec = hourly_table_spec(
    "sessions", "One row per conversation, in the hour it closed (idle for idle_minutes): turns, transcript, "
    "escalation, frustration, repeated questions, failed checks and feedback.", "conversations",
    kinds={"parquet", "duckdb"}, deps=["traces", "programmatic_scores", "user_feedback"])
agent_runs_spec = hourly_table_spec(
    "agent_runs", "One row per trace whose model took several steps or called tools, in the hour it started: "
    "steps, tools called, loops, tool calls that break the declared tools, errors, tokens and cost.",
    "conversations", kinds={"parquet", "duckdb"}, deps=["traces"])
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
        calls = store.read_partitions("traces", "hour", window, CALL_COLUMNS)
        if calls is None:
            calls = TRACES.empty_table().select(CALL_COLUMNS)
        start = hourly_partitions.time_window_for_partition_key(key).start
        end = start + timedelta(hours=1)
        with duckdb.get_connection() as con:
            closed = sessions.build_sessions(
                # Scores only of the calls the sessions read: those before the hour's end.
                con, calls, store.read_partitions("programmatic_scores", "hour", lookback, sessions.SCORE_COLUMNS),
                store.read_partitions("user_feedback", "hour", window, sessions.FEEDBACK_COLUMNS),
                start, end, datetime.now(UTC), settings)
            runs = agents.build_agent_runs(con, calls, start, end)
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
