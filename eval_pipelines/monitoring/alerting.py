"""The alerting as a sequence of evaluations: at each time, the rules' breaches open and resolve incidents.

Hourly rules (on ``quality_slis``) are evaluated at the end of every minute (bucket), in time order, from
where the last evaluation stopped up to the newest data. The bucket still filling is evaluated too, so a
page goes out as soon as the data shows the breach; it is evaluated again, with more data, by the next
run, and only buckets that have ended (by the clock) count as done. When a run changes the SLIs of minutes
already evaluated (late or out-of-order data), the rules are evaluated again from the start of that hour,
from the incidents open then, through the last minute evaluated, and the alert rows of the minutes evaluated
again are replaced by what the data now shows: the alerts follow the data, not the order it arrived in. A
page cannot be taken back: an incident found again with another start (same rule and slice, overlapping
time) keeps the identity it was delivered under (``aliases``), so it is not paged twice and its resolution
reaches the same incident; the deliveries ledger keeps every page sent. Daily rules (drift, canary,
divergence) are evaluated at the end of each day their results are written for. The state between
evaluations (how far they got, the open incidents and the baseline each started from, each recent hour's
starting incidents and SLI digest, the recent events and aliases) is a small JSON document.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from eval_pipelines.monitoring.channels import AlertEvent, Delivery
from eval_pipelines.monitoring.incidents import attribute, describe, frozen_baselines, track
from eval_pipelines.monitoring.rules import AlertConfig, AlertRule, SliHistory, duration_text
from eval_pipelines.monitoring.slis import BUCKET_MINUTES
from eval_pipelines.schemas import ALERTS

BUCKET = timedelta(minutes=BUCKET_MINUTES)
DAY = timedelta(days=1)


@dataclass
class AlertState:
    """Where the hourly evaluations got to, what is open, and what re-evaluating a recent hour starts from."""

    evaluated_through: datetime | None = None  # the last ended minute the hourly rules were evaluated at
    open: dict[str, dict] = field(default_factory=dict)  # by breach key (rule|slice)
    # By hour (ISO start): the incidents open at its start and the digest of its minutes' SLIs evaluated.
    hours: dict[str, dict] = field(default_factory=dict)
    # By dedup key: the recent events found (key, event, incident, at), to recognise them when found again.
    events: dict[str, dict] = field(default_factory=dict)
    # Incidents found again under another start, by id: the id they were delivered under.
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict | None) -> AlertState:
        if not data:
            return cls()
        through = data.get("evaluated_through")
        return cls(datetime.fromisoformat(through) if through else None, data.get("open", {}),
                   data.get("hours", {}), data.get("events", {}), data.get("aliases", {}))

    def to_json(self) -> dict:
        return {"evaluated_through": self.evaluated_through.isoformat() if self.evaluated_through else None,
                "open": self.open, "hours": self.hours, "events": self.events, "aliases": self.aliases}

    def open_at(self, hour: datetime) -> dict[str, dict]:
        """The incidents open at the start of ``hour``: as recorded for it, or for the first hour evaluated
        after it (nothing was evaluated between), or the open ones if nothing after it was evaluated."""
        later = sorted(start for start in self.hours if datetime.fromisoformat(start) >= hour)
        return self.hours[later[0]]["open"] if later else self.open

    def kept_since(self, horizon: datetime) -> AlertState:
        """Without the hours and events older than ``horizon`` (late data older than that is evaluated from
        the incidents open after it)."""
        events = {key: event for key, event in self.events.items() if datetime.fromisoformat(event["at"]) >= horizon}
        incidents = {event["incident"] for event in events.values()} | {
            incident_id(key, incident["opened_at"]) for key, incident in self.open.items()}
        return AlertState(self.evaluated_through, self.open,
                          {start: hour for start, hour in self.hours.items()
                           if datetime.fromisoformat(start) >= horizon},
                          events, {found: known for found, known in self.aliases.items() if found in incidents})


def bucket_end(moment: datetime) -> datetime:
    """The end of the bucket (minute) ``moment`` lies in."""
    start = moment.replace(second=0, microsecond=0) - timedelta(minutes=moment.minute % BUCKET_MINUTES)
    return start + BUCKET


def evaluation_times(hour: datetime, newest_data: datetime | None,
                     evaluated_through: datetime | None) -> list[datetime]:
    """The bucket ends of ``hour`` to evaluate: after the last evaluated one, up to the bucket holding the
    newest data."""
    if newest_data is None:
        return []
    first = max(hour, evaluated_through) if evaluated_through else hour
    last = min(hour + timedelta(hours=1), bucket_end(newest_data))
    times, at = [], first + BUCKET
    while at <= last:
        times.append(at)
        at += BUCKET
    return times


def incident_id(incident_key: str, opened_at: str) -> str:
    return f"{incident_key}|{opened_at}"


def dedup_key(event: AlertEvent) -> str:
    """One key per incident and event, the same however often the evaluation that found it is repeated."""
    return hashlib.sha256(f"{event.incident}|{event.event}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Evaluated:
    events: list[AlertEvent]
    open: dict[str, dict]


def evaluate_at(rules: list[AlertRule], history: SliHistory, at: datetime,
                open_incidents: dict[str, dict]) -> Evaluated:
    """One evaluation of ``rules`` at ``at``: new breaches open incidents (with attribution), cleared ones
    resolve. ``open_incidents`` holds only incidents of these rules."""
    breaches = history.breaches(rules, at, frozen_baselines(open_incidents))
    changes = track(open_incidents, breaches, at)
    events = []
    for breach in changes.opened:
        attribution = attribute(breach, history.history)
        details = {"sli": breach.rule.sli, "at": at.isoformat(), "short": breach.short.value,
                   "long": breach.long.value, "baseline": breach.baseline_value,
                   "samples_short": breach.short.samples, "explained_by": attribution.slice if attribution else None}
        message = describe(breach, attribution) + (f". {breach.rule.advice}" if breach.rule.advice else "")
        events.append(AlertEvent("opened", breach.key, breach.rule.name, breach.slice, breach.rule.severity,
                                 message, details, at, incident_id(breach.key, at.isoformat())))
    for incident in changes.resolved:
        key = f"{incident['rule']}|{incident['slice']}"
        opened = datetime.fromisoformat(incident["opened_at"])
        events.append(AlertEvent(
            "resolved", key, incident["rule"], incident["slice"], incident["severity"],
            f"{incident['rule']} on {incident['slice']} is back to normal at {at:%Y-%m-%d %H:%M} "
            f"(open since {opened:%Y-%m-%d %H:%M}, {duration_text(int((at - opened).total_seconds() // 60))})",
            {"opened_at": incident["opened_at"]}, at, incident_id(key, incident["opened_at"])))
    return Evaluated(events, changes.open)


def evaluate_times(config: AlertConfig, history: SliHistory, times: list[datetime],
                   open_incidents: dict[str, dict]) -> Evaluated:
    """The rules of ``config`` evaluated at each of ``times`` in order; every event, and what is open after.
    Incidents of other rules in ``open_incidents`` are carried through untouched."""
    names = {rule.name for rule in config.rules}
    mine = {key: incident for key, incident in open_incidents.items() if incident["rule"] in names}
    others = {key: incident for key, incident in open_incidents.items() if key not in mine}
    events: list[AlertEvent] = []
    for at in times:
        evaluated = evaluate_at(config.rules, history, at, mine)
        events += evaluated.events
        mine = evaluated.open
    return Evaluated(events, others | mine)


@dataclass(frozen=True)
class Incident:
    key: str
    opened: datetime
    resolved: datetime | None

    @property
    def end(self) -> datetime:
        return self.resolved or datetime.max.replace(tzinfo=UTC)

    def overlaps(self, other: Incident) -> bool:
        return self.key == other.key and self.opened < other.end and other.opened < self.end


def _incidents(events: list[dict], still_open: dict[str, dict]) -> dict[str, Incident]:
    """The incidents that events (as :func:`event_record` describes them) and open incidents make, by id."""
    found = {incident_id(key, incident["opened_at"]): Incident(key, datetime.fromisoformat(incident["opened_at"]), None)
             for key, incident in still_open.items()}
    for event in events:
        resolved = datetime.fromisoformat(event["at"]) if event["event"] == "resolved" else None
        found[event["incident"]] = Incident(event["key"], datetime.fromisoformat(event["opened_at"]), resolved)
    return found


def event_record(event: AlertEvent) -> dict:
    opened_at = event.details["opened_at"] if event.event == "resolved" else event.at.isoformat()
    return {"key": event.key, "event": event.event, "incident": event.incident, "at": event.at.isoformat(),
            "opened_at": opened_at}


def delivered_as(found: Evaluated, state: AlertState) -> dict[str, str]:
    """Which incidents of an evaluation were delivered under another id: one not known before that overlaps an
    incident recorded for the same rule and slice is that incident found again (late data moved its start)."""
    recorded = _incidents(list(state.events.values()), state.open)
    aliases = dict(state.aliases)
    for incident, span in _incidents([event_record(event) for event in found.events], found.open).items():
        if incident in recorded or incident in aliases:
            continue
        match = next((other for other, known in recorded.items() if span.overlaps(known)), None)
        if match is not None:
            aliases[incident] = aliases.get(match, match)
    return aliases


def still_open(found: Evaluated, state: AlertState, aliases: dict[str, str]) -> dict[str, dict]:
    """The incidents open after an evaluation, and those delivered open before that it no longer finds at all
    (kept open, so the rules resolve them and their resolution is delivered)."""
    found_as = {aliases.get(incident, incident)
                for incident in _incidents([event_record(event) for event in found.events], found.open)}
    kept = {key: incident for key, incident in state.open.items()
            if incident_id(key, incident["opened_at"]) not in found_as and key not in found.open}
    return found.open | kept


def alert_rows(hour: datetime, events: list[AlertEvent], deliveries: list[list[Delivery]], now: datetime) -> pa.Table:
    rows = [{"event_time": now, "hour_start": hour, "evaluated_at": e.at, "event": e.event, "key": e.key,
             "rule": e.rule, "slice": e.slice, "severity": e.severity, "message": e.message,
             "details": json.dumps(e.details, default=str), "dedup_key": dedup_key(e),
             "deliveries": json.dumps([d.__dict__ for d in sent])}
            for e, sent in zip(events, deliveries, strict=True)]
    return pa.Table.from_pylist(rows, schema=ALERTS)
