"""``conversations_sensor``: the sessions and agent runs of each hour once it has ended, and again wherever late calls
changed them."""

import json

import dagster as dg

from eval_pipelines.defs.conversations.jobs import conversations_job
from eval_pipelines.defs.partitions import consecutive_stretches, hourly_partitions, range_tags
from eval_pipelines.defs.resources import ConversationsConfigResource, LakeResource
from eval_pipelines.hours import hour_index, hour_key


def _traces_key(context: dg.SensorEvaluationContext) -> dg.AssetKey:
    return next(key for key in context.repository_def.asset_graph.get_all_asset_keys() if key.path[-1] == "traces")


def hours_to_refresh(changed: list[int], ended_through: int, current: int, reach: int) -> list[int]:
    """The ended hours whose sessions or agent runs may differ: around each changed traces hour, the hour before (a
    run that started there) and the hours after that a session with a turn in it can close in (``reach`` hours
    on); and the hours that ended since ``ended_through``."""
    hours = {near for hour in changed for near in range(hour - 1, hour + reach + 1) if near != hour}
    hours |= set(range(ended_through + 1, current))
    return sorted(hour for hour in hours if hour < current)


@dg.sensor(
    job_name=conversations_job.name,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Builds the sessions and agent runs of each hour once it has ended (sessions close idle_minutes "
                "after their last turn), and again for the hours late calls can change: the hour before (agent "
                "runs) and the later hours a session can close in; consecutive hours in one run.",
)
def conversations_sensor(context: dg.SensorEvaluationContext, lake: LakeResource,
                    conversations: ConversationsConfigResource) -> dg.SensorResult:
    traces = _traces_key(context)
    current = hour_index(hourly_partitions.get_last_partition_key())
    materialized = dg.DagsterEventType.ASSET_MATERIALIZATION
    if not context.cursor:
        latest = context.instance.get_latest_storage_id_by_partition(traces, materialized)
        cursor = {"after": max(latest.values(), default=0), "ended_through": current - 1}
        return dg.SensorResult(skip_reason="started: from now on, each ended hour and each late turn",
                               cursor=json.dumps(cursor))
    cursor = json.loads(context.cursor)
    changed = context.instance.get_latest_storage_id_by_partition(traces, materialized, after_cursor=cursor["after"])
    settings = conversations.settings()
    reach = settings.lookback_hours + settings.idle_minutes // 60 + 1
    with_traces = {hour_index(key) for key in lake.lake.partition_keys("traces", "hour")}
    first = hour_index(hourly_partitions.get_first_partition_key())
    hours = [hour for hour in hours_to_refresh([hour_index(key) for key in changed], cursor["ended_through"],
                                               current, reach)
             if hour >= first and with_traces & set(range(hour - settings.lookback_hours, hour + 1))]
    after = max([cursor["after"], *changed.values()])
    next_cursor = json.dumps({"after": after, "ended_through": current - 1})
    if not hours:
        return dg.SensorResult(skip_reason="no ended hour whose sessions or agent runs can have changed",
                               cursor=next_cursor)
    requests = [dg.RunRequest(run_key=f"conversations:{hour_key(stretch[0])}..{hour_key(stretch[-1])}:{after}",
                              tags={"eval_pipelines/trigger": "conversations_sensor",
                                    **range_tags(hour_key(stretch[0]), hour_key(stretch[-1]))})
                for stretch in consecutive_stretches(hours, lambda hour: hour)]
    return dg.SensorResult(run_requests=requests, cursor=next_cursor)
