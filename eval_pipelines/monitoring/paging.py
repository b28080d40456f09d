"""Alerting against the lake: evaluate what is new, deliver each event once, record it.

The ``alerts`` asset calls :func:`page_hour` for each hour it materializes: the hourly rules at the end of
every minute not evaluated yet, up to the newest data. The ``daily_alerts`` asset calls :func:`page_day`
for each day: the daily rules (drift, canary, divergence) at the end of the day. Each reads its state and
the SLI history from the lake, delivers each event once (:mod:`eval_pipelines.monitoring.deliveries`) and
returns the partition's alert rows and the new state. The caller writes both: the rows first, then the
state, so a run stopped between the two repeats the same evaluation and finds its deliveries recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.hours import day_keys_before, hour_keys_before, key_of_hour
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.alerting import (
    DAY,
    AlertState,
    Evaluated,
    alert_rows,
    dedup_key,
    evaluate_times,
    evaluation_times,
)
from eval_pipelines.monitoring.channels import AlertEvent
from eval_pipelines.monitoring.deliveries import deliver_once
from eval_pipelines.monitoring.rules import (
    DAILY_SLI_TABLES,
    HOURLY_SLI_TABLE,
    AlertConfig,
    SliHistory,
    lookback_minutes,
)
from eval_pipelines.schemas import ALERTS, QUALITY_SLIS

STATE = "alerting"
DAILY_STATE = "daily_alerting"
HOURLY_ALERTS, DAILY_ALERTS = "alerts", "daily_alerts"


@dataclass(frozen=True)
class Paged:
    rows: pa.Table  # the partition's alert rows: those recorded before and the new ones
    events: list[AlertEvent]  # found by this evaluation
    sent_now: int  # events delivered by this call (not found delivered before)
    state: dict  # what to keep for the next evaluation
    evaluations: int  # times (hourly) or tables (daily) evaluated
    open: int  # incidents open after it


def _newest_bucket(rows: pa.Table, hour: datetime) -> datetime | None:
    inside = rows.filter(pc.and_(pc.greater_equal(rows.column("window_start"), pa.scalar(hour)),
                                 pc.less(rows.column("window_start"), pa.scalar(hour + timedelta(hours=1)))))
    return pc.max(inside.column("window_start")).as_py() if inside.num_rows else None


def _record(store: Lake, config: AlertConfig, table: str, key: str, partition_start: datetime,
            events: list[AlertEvent], now: datetime, log: Callable[[str], None]) -> tuple[pa.Table, int]:
    """Deliver each event once; the partition's rows (recorded before, and the events not recorded yet) and how
    many events were delivered by this call."""
    outcomes = [deliver_once(store, config, event, now, log) for event in events]
    recorded = store.read_partition(table, "hour" if table == HOURLY_ALERTS else "day", key)
    known = set(recorded.column("dedup_key").to_pylist()) if recorded is not None else set()
    fresh = [(event, deliveries) for event, (deliveries, _) in zip(events, outcomes, strict=True)
             if dedup_key(event) not in known]
    new_rows = alert_rows(partition_start, [event for event, _ in fresh], [deliveries for _, deliveries in fresh],
                          now)
    rows = pa.concat_tables([recorded.cast(ALERTS), new_rows]) if recorded is not None else new_rows
    return rows.sort_by([("evaluated_at", "ascending"), ("event_time", "ascending")]), sum(sent for _, sent in outcomes)


def hourly_history(store: Lake, config: AlertConfig, first: datetime, last: datetime) -> SliHistory:
    """The SLIs the hourly rules read when evaluated in the hours ``first``..``last`` (read once for all)."""
    minutes = lookback_minutes(config.only(HOURLY_SLI_TABLE).rules) + int((last - first).total_seconds() // 60)
    history = store.read_partitions(HOURLY_SLI_TABLE, "hour", hour_keys_before(last, minutes))
    return SliHistory(history if history is not None else QUALITY_SLIS.empty_table())


def page_hour(store: Lake, config: AlertConfig, hour: datetime, history: SliHistory, now: datetime,
              log: Callable[[str], None]) -> Paged:
    """The hourly rules at the end of every minute of ``hour`` not evaluated yet, up to its newest data
    (``history``: :func:`hourly_history` of at least this hour)."""
    state = AlertState.from_json(store.read_state(STATE))
    times = evaluation_times(hour, _newest_bucket(history.history, hour), state.evaluated_through)
    evaluated = (evaluate_times(config.only(HOURLY_SLI_TABLE), history, times, state.open) if times
                 else Evaluated([], state.open))
    ended = [at for at in times if at <= now] + ([state.evaluated_through] if state.evaluated_through else [])
    rows, sent = _record(store, config, HOURLY_ALERTS, key_of_hour(hour), hour, evaluated.events, now, log)
    return Paged(rows, evaluated.events, sent, AlertState(max(ended, default=None), evaluated.open).to_json(),
                 len(times), len(evaluated.open))


def page_day(store: Lake, config: AlertConfig, day: date, now: datetime, log: Callable[[str], None]) -> Paged:
    """The daily rules at the end of ``day``, over each daily table's history up to it."""
    open_incidents = (store.read_state(DAILY_STATE) or {}).get("open", {})
    at = datetime(day.year, day.month, day.day, tzinfo=UTC) + DAY
    events: list[AlertEvent] = []
    evaluated_tables = 0
    for table in DAILY_SLI_TABLES.values():
        rules = config.only(table)
        history = store.read_partitions(table, "day", day_keys_before(day, lookback_minutes(rules.rules)))
        if history is None or not rules.rules:
            continue
        evaluated = evaluate_times(rules, SliHistory(history), [at], open_incidents)
        events += evaluated.events
        open_incidents = evaluated.open
        evaluated_tables += 1
    rows, sent = _record(store, config, DAILY_ALERTS, day.isoformat(), at - DAY, events, now, log)
    return Paged(rows, events, sent, {"open": open_incidents}, evaluated_tables, len(open_incidents))
