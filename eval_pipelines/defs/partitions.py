
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import dagster as dg

from eval_pipelines.hours import hour_index, hour_key, partitions_start

# The one partition of an unpartitioned table in the lake (labels, calibration and offline scores).
SNAPSHOT = ("snapshot", "current")

# Both start on the day EVAL_PIPELINES_START names (by default the first of the month two months back).
FIRST_DAY = partitions_start()
# Trace-level assets are partitioned by the UTC hour their LLM spans start in. The current hour is
# included (end_offset=1) so fresh data lands without waiting for the hour to close.
hourly_partitions = dg.HourlyPartitionsDefinition(start_date=f"{FIRST_DAY.isoformat()}-00:00", timezone="UTC",
                                                  end_offset=1)
# Daily assets (the judge canary, the drift report) run on the UTC day that has just ended and on today.
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=1)
# A backfill of hourly assets runs a day of hours per run: each step walks its hours in order, so a day
# costs one run (one process start, one read of each landing file) instead of 24. The sensors request
# their runs the same way.
HOURS_PER_RUN = 24
HOURLY_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=HOURS_PER_RUN)
# The run tags of a run over a range of partitions (what a backfill run carries).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


T = TypeVar("T")


def range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make a run cover the partitions ``first``..``last``."""
    return {RANGE_START: first, RANGE_END: last}


def hours_of(request: dg.RunRequest) -> list[str]:
    """The hour partitions a run request covers: its partition, or its range."""
    if request.partition_key is not None:
        return [request.partition_key]
    return hourly_partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange(request.tags[RANGE_START], request.tags[RANGE_END]))


def consecutive_stretches(items: Sequence[T], hour_of: Callable[[T], int]) -> list[list[T]]:
    """``items``, in hour order, cut into stretches of consecutive hours of at most a day: the runs a backfill
    of those hours makes under ``HOURLY_BACKFILL_POLICY``."""
    stretches: list[list[T]] = []
    for item in items:
        if stretches and len(stretches[-1]) < HOURS_PER_RUN and hour_of(item) == hour_of(stretches[-1][-1]) + 1:
            stretches[-1].append(item)
        else:
            stretches.append([item])
    return stretches


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def history_keys(key: str, lookback_hours: int, daily: bool) -> list[str]:
    """The partition keys from ``lookback_hours`` before ``key`` up to it, oldest first (hours or days)."""
    if daily:
        day = date.fromisoformat(key)
        return [(day - timedelta(days=back)).isoformat() for back in range(lookback_hours // 24 + 1, -1, -1)]
    index = hour_index(key)
    return [hour_key(h) for h in range(index - lookback_hours, index + 1)]


def key_start(key: str, daily: bool) -> datetime:
    return day_start(date.fromisoformat(key)) if daily else hourly_partitions.time_window_for_partition_key(key).start


def previous_day_request(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The run of a daily schedule: the UTC day that ended before its tick."""
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)
