"""Alerting against the lake: evaluate what is new, deliver each event once, record it.

The ``alerts`` asset calls :func:`page_hour` for each hour it materializes: the hourly rules at the end of
every minute not evaluated yet, up to the newest data, or, when late data changed minutes already
evaluated, from the hour's start through the last minute evaluated. The ``daily_alerts`` asset calls
:func:`page_day` for each day: the daily rules (drift, canary, divergence) at the end of the day. Each
reads its state and the SLI history from the lake, delivers each event once
(:mod:`eval_pipelines.monitoring.deliveries`) and returns the alert rows of the partitions it evaluated
and the new state. The caller writes both: the rows first, then the state, so a run stopped between the
two repeats the same evaluation and finds its deliveries recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from eval_pipelines.hours import day_keys_before, hour_keys_before, key_of_hour
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.alerting import (
    BUCKET,
    DAY,
    AlertState,
    Evaluated,
    alert_rows,
    dedup_key,
    delivered_as,
    evaluate_times,
    evaluation_times,
    event_record,
    still_open,
)
from eval_pipelines.monitoring.channels import AlertEvent, Delivery
from eval_pipelines.monitoring.deliveries import deliver_once
from eval_pipelines.monitoring.rules import (
    DAILY_SLI_TABLES,
    HOURLY_SLI_TABLE,
    AlertConfig,
    SliHistory,
    lookback_minutes,
    newest_window,
    windows_between,
)
from eval_pipelines.schemas import ALERTS, QUALITY_SLIS

STATE = "alerting"
DAILY_STATE = "daily_alerting"
HOURLY_ALERTS, DAILY_ALERTS = "alerts", "daily_alerts"


@dataclass(frozen=True)
class Paged:
    rows: dict[str, pa.Table]  # alert rows by partition: the evaluated one, and later ones evaluated again
    events: list[AlertEvent]  # found by this evaluation
    sent_now: int  # events delivered by this call (not found delivered before)
    state: dict  # what to keep for the next evaluation
    evaluations: int  # times (hourly) or tables (daily) evaluated
    open: int  # incidents open after it


HOUR = timedelta(hours=1)
# How far back late data is evaluated again from the incidents open then (older data starts from those after it).
REPLAY_HORIZON = timedelta(days=2)


def _digest(rows: pa.Table, start: datetime, end: datetime) -> str:
    """A digest of the minute SLIs from ``start`` to ``end`` ("" when there are none)."""
    minutes = windows_between(rows, start, end)
    if not minutes.num_rows:
        return ""
    ordered = minutes.sort_by([(name, "ascending") for name in ("window_start", "sli", "dimension", "slice")])
    # The rows' Arrow IPC bytes: equal bytes are equal rows (a different layout of equal rows only costs an
    # evaluation again), and serializing is a hundred times faster than formatting the rows.
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, ordered.schema) as stream:
        stream.write_table(ordered.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()[:24]


def _deliver(store: Lake, config: AlertConfig, events: list[AlertEvent], aliases: dict[str, str], now: datetime,
             log: Callable[[str], None]) -> tuple[list[list[Delivery]], int]:
    """Each event once to its channels, under the incident it was first delivered as; the deliveries of each
    and how many events were delivered by this call."""
    outcomes = [deliver_once(store, config, replace(event, incident=aliases.get(event.incident, event.incident)),
                             now, log) for event in events]
    return [deliveries for deliveries, _ in outcomes], sum(sent for _, sent in outcomes)


def _rows(store: Lake, table: str, key: str, partition_start: datetime, evaluated: list[datetime],
          events: list[AlertEvent], deliveries: list[list[Delivery]], now: datetime) -> pa.Table:
    """The partition's rows: those recorded at other times than ``evaluated`` (the times evaluated again), and
    the events found not among them."""
    recorded = store.read_partition(table, "hour" if table == HOURLY_ALERTS else "day", key)
    if recorded is None:
        return alert_rows(partition_start, events, deliveries, now)
    times = pa.array(evaluated, type=recorded.schema.field("evaluated_at").type)
    kept = recorded.filter(pc.invert(pc.is_in(recorded.column("evaluated_at"), value_set=times))).cast(ALERTS)
    known = set(kept.column("dedup_key").to_pylist())
    new = [(event, sent) for event, sent in zip(events, deliveries, strict=True) if dedup_key(event) not in known]
    rows = pa.concat_tables([kept, alert_rows(partition_start, [event for event, _ in new], [sent for _, sent in new],
                                              now)])
    return rows.sort_by([("evaluated_at", "ascending"), ("event_time", "ascending")])


def hourly_history(store: Lake, config: AlertConfig, first: datetime, last: datetime) -> SliHistory:
    """The SLIs the hourly rules read when evaluated in the hours ``first``..``last`` (read once for all), and
    through the last minute evaluated, for late data that has them evaluated again."""
    through = AlertState.from_json(store.read_state(STATE)).evaluated_through
    last = max(last, through.replace(minute=0, second=0, microsecond=0)) if through else last
    minutes = lookback_minutes(config.only(HOURLY_SLI_TABLE).rules) + int((last - first).total_seconds() // 60)
    history = store.read_partitions(HOURLY_SLI_TABLE, "hour", hour_keys_before(last, minutes))
    return SliHistory(history if history is not None else QUALITY_SLIS.empty_table())


def _resume(state: AlertState, rows: pa.Table, hour: datetime) -> datetime:
    """Where evaluating ``hour`` starts: where the evaluations got to, or the hour's start when minutes of it
    already evaluated have changed since (or it was never evaluated and later hours were)."""
    through = state.evaluated_through
    if through is None or through <= hour:
        return hour
    recorded = state.hours.get(hour.isoformat(), {"digest": ""})
    if recorded["digest"] == _digest(rows, hour, min(hour + HOUR, through)):
        return min(through, hour + HOUR)
    return hour


def _evaluation_hours(rows: pa.Table, hour: datetime, start: datetime,
                      through: datetime | None) -> list[tuple[datetime, list[datetime]]]:
    """Each hour to evaluate with its times: ``hour`` from ``start`` up to its newest data and, when it is
    evaluated again from its start, the later hours up to the last minute evaluated before."""
    first = evaluation_times(hour, newest_window(rows, hour, hour + HOUR), start if start > hour else None)
    hours = [(hour, first)]
    if start == hour and through is not None:
        later = hour + HOUR
        while later < through:
            newest = newest_window(rows, later, later + HOUR)
            times = [at for at in evaluation_times(later, newest, None) if at <= through]
            hours.append((later, times))
            later += HOUR
    return hours


def page_hour(store: Lake, config: AlertConfig, hour: datetime, history: SliHistory, now: datetime,
              log: Callable[[str], None]) -> Paged:
    """The hourly rules at the end of every minute of ``hour`` not evaluated yet, up to its newest data, and
    again from its start when late data changed minutes already evaluated (``history``:
    :func:`hourly_history` of at least this hour)."""
    state = AlertState.from_json(store.read_state(STATE))
    rows = history.history
    start = _resume(state, rows, hour)
    open_incidents = state.open_at(hour) if start == hour else state.open
    plan = _evaluation_hours(rows, hour, start, state.evaluated_through)
    rules = config.only(HOURLY_SLI_TABLE)
    starts, events = {}, []
    for evaluated_hour, times in plan:
        if times and times[0] == evaluated_hour + BUCKET:
            starts[evaluated_hour.isoformat()] = open_incidents
        ended = evaluate_times(rules, history, [at for at in times if at <= now], open_incidents)
        events, open_incidents = events + ended.events, ended.open
    # Minutes still filling are evaluated (a page goes out at once), but the state stays at the last ended one.
    filling = evaluate_times(rules, history, [at for _, times in plan for at in times if at > now], open_incidents)
    events += filling.events
    found = Evaluated(events, open_incidents)
    aliases = delivered_as(found, state)
    deliveries, sent = _deliver(store, config, events, aliases, now, log)
    partitions = {}
    for evaluated_hour, times in plan:
        if times or evaluated_hour == hour:
            inside = [(event, sent) for event, sent in zip(events, deliveries, strict=True) if event.at in times]
            partitions[key_of_hour(evaluated_hour)] = _rows(
                store, HOURLY_ALERTS, key_of_hour(evaluated_hour), evaluated_hour, times,
                [event for event, _ in inside], [sent for _, sent in inside], now)
    all_times = [at for _, times in plan for at in times]
    ended = [at for at in all_times if at <= now] + ([state.evaluated_through] if state.evaluated_through else [])
    through = max(ended, default=None)
    next_state = AlertState(through, still_open(found, state, aliases), _hours(state, rows, plan, starts, through),
                            state.events | {dedup_key(event): event_record(event) for event in events}, aliases)
    if through:
        next_state = next_state.kept_since(through - REPLAY_HORIZON)
    return Paged(partitions, events, sent, next_state.to_json(), len(all_times), len(next_state.open))


def _hours(state: AlertState, rows: pa.Table, plan: list[tuple[datetime, list[datetime]]], starts: dict[str, dict],
           through: datetime | None) -> dict[str, dict]:
    """Each evaluated hour's incidents open at its start and the digest of its minutes evaluated and ended."""
    hours = dict(state.hours)
    for hour, times in plan:
        if times:
            start = hour.isoformat()
            hours[start] = {"open": starts.get(start, hours.get(start, {}).get("open", {})),
                            "digest": _digest(rows, hour, min(hour + HOUR, through or hour))}
    return hours


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
    deliveries, sent = _deliver(store, config, events, {}, now, log)
    rows = _rows(store, DAILY_ALERTS, day.isoformat(), at - DAY, [], events, deliveries, now)
    return Paged({day.isoformat(): rows}, events, sent, {"open": open_incidents}, evaluated_tables,
                 len(open_incidents))
