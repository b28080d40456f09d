"""One evaluation step of the alerting: an hour's breaches become incident events with their message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from eval_pipelines.monitoring.channels import AlertEvent, Delivery
from eval_pipelines.monitoring.incidents import attribute, describe, frozen_baselines, track
from eval_pipelines.monitoring.rules import AlertConfig, evaluate_rules
from eval_pipelines.schemas import ALERTS


@dataclass(frozen=True)
class HourAlerts:
    events: list[AlertEvent]
    open: dict[str, dict]


def history_hours(config: AlertConfig) -> int:
    """How many hours of SLIs the rules look back over (windows, baselines, attribution)."""
    return max([rule.windows.long_hours + rule.condition.baseline_hours for rule in config.rules] + [7])


def evaluate_hour(config: AlertConfig, history: pa.Table, hour: datetime,
                  open_incidents: dict[str, dict]) -> HourAlerts:
    """Breaches at ``hour``; new ones open incidents (with attribution), cleared ones resolve."""
    breaches = evaluate_rules(config.rules, history, hour, frozen_baselines(open_incidents))
    changes = track(open_incidents, breaches, hour)
    events = []
    for breach in changes.opened:
        attribution = attribute(breach, history)
        details = {"sli": breach.rule.sli, "hour": hour.isoformat(), "short": breach.short.value,
                   "long": breach.long.value, "baseline": breach.baseline_value,
                   "samples_short": breach.short.samples, "explained_by": attribution.slice if attribution else None}
        message = describe(breach, attribution) + (f". {breach.rule.advice}" if breach.rule.advice else "")
        events.append(AlertEvent("opened", breach.key, breach.rule.name, breach.slice, breach.rule.severity,
                                 message, details))
    for incident in changes.resolved:
        events.append(AlertEvent("resolved", f"{incident['rule']}|{incident['slice']}", incident["rule"],
                                 incident["slice"], incident["severity"],
                                 f"{incident['rule']} on {incident['slice']} is back to normal at {hour:%Y-%m-%d %H:%M}"
                                 f" (open since {incident['opened_hour'][:16].replace('T', ' ')})",
                                 {"opened_hour": incident["opened_hour"]}))
    return HourAlerts(events, changes.open)


def alert_rows(hour: datetime, events: list[AlertEvent], deliveries: list[list[Delivery]], now: datetime) -> pa.Table:
    rows = [{"event_time": now, "hour_start": hour, "event": e.event, "key": e.key, "rule": e.rule, "slice": e.slice,
             "severity": e.severity, "message": e.message, "details": json.dumps(e.details, default=str),
             "deliveries": json.dumps([d.__dict__ for d in sent])} for e, sent in zip(events, deliveries, strict=True)]
    return pa.Table.from_pylist(rows, schema=ALERTS)
