"""Incidents from breaches: opened once, kept while the breach lasts, resolved when it clears; and
attribution: which slice explains the change, and whether a new version appeared when it started.

Attribution compares, for the breaching SLI, every ``route×prompt_version×model`` slice's rate and
share of the denominator in the short window with the hours before the long window. A slice's
contribution to the change of the overall rate R is ``share_now × (rate_now − R_before) −
share_before × (rate_before − R_before)``; the contributions add up to ``R_now − R_before``, and a
slice whose share moves while its rate stays at the old overall rate contributes nothing (so a prompt
version being replaced is not blamed for what its successor does). The slice contributing most in the
rule's direction explains the change; a dimension value of that slice absent before (a prompt version
rolled out, a new model) is named with the hour it first appeared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from eval_pipelines.monitoring.rules import Breach

COMBINATION = "route×prompt_version×model"
ATTRIBUTION_BASELINE_HOURS = 6


@dataclass(frozen=True)
class Attribution:
    slice: str
    before: float | None
    now: float
    new_value: tuple[str, str, datetime] | None  # (dimension, value, first hour seen)


def _rate(rows: list[dict]) -> tuple[float | None, float]:
    denominator = sum(r["denominator"] or 0.0 for r in rows)
    return (sum(r["numerator"] or 0.0 for r in rows) / denominator if denominator else None), denominator


def attribute(breach: Breach, history: pa.Table) -> Attribution | None:
    rule = breach.rule
    end = breach.hour + timedelta(hours=1)
    short_start = end - timedelta(hours=rule.windows.short_hours)
    before_end = end - timedelta(hours=rule.windows.long_hours)
    before_start = before_end - timedelta(hours=rule.condition.baseline_hours if rule.condition.threshold is None
                                          else ATTRIBUTION_BASELINE_HOURS)
    rows = [r for r in history.to_pylist() if r["sli"] == rule.sli and r["denominator"] is not None]
    parts = [r for r in rows if r["dimension"] == COMBINATION
             and all(r[column] == value for column, value in rule.slice.equals.items())]
    now = [r for r in parts if short_start <= r["hour_start"] < end]
    before = [r for r in parts if before_start <= r["hour_start"] < before_end]
    overall_now, now_total = _rate(now)
    overall_before, before_total = _rate(before)
    if not now_total:
        return None
    reference = overall_before if overall_before is not None else overall_now
    sign = 1 if rule.direction == "up" else -1
    best: tuple[float, str, float, float | None] | None = None
    for slice_key in sorted({r["slice"] for r in now}):
        rate_now, n_now = _rate([r for r in now if r["slice"] == slice_key])
        rate_before, n_before = _rate([r for r in before if r["slice"] == slice_key])
        if rate_now is None:
            continue
        contribution = n_now / now_total * (rate_now - reference) - (
            n_before / before_total * (rate_before - reference) if rate_before is not None else 0.0)
        if best is None or sign * contribution > best[0]:
            best = (sign * contribution, slice_key, rate_now, rate_before)
    if best is None:
        return None
    _, slice_key, rate_now, rate_before = best
    return Attribution(slice_key, rate_before, rate_now, _new_value(history, slice_key, before_end))


def _new_value(history: pa.Table, slice_key: str, since: datetime) -> tuple[str, str, datetime] | None:
    """A prompt version, model or route of the slice that the hours before ``since`` never saw."""
    values = dict(part.split("=", 1) for part in slice_key.split(", "))
    rows = [r for r in history.to_pylist() if r["sli"] == "volume"]
    for dimension in ("prompt_version", "model", "route"):
        seen = sorted(r["hour_start"] for r in rows
                      if r["dimension"] == dimension and r[dimension] == values.get(dimension))
        if seen and seen[0] >= since - timedelta(hours=1) and any(r["hour_start"] < seen[0] for r in rows):
            return dimension, values[dimension], seen[0]
    return None


def describe(breach: Breach, attribution: Attribution | None) -> str:
    """One line a person paged at night understands."""
    rule = breach.rule
    where = "overall" if breach.slice == "total" else f"on {breach.slice}"
    verb = "rose" if rule.direction == "up" else "fell"
    before = f" from {breach.baseline.value:.1%}" if breach.baseline and breach.baseline.value is not None else ""
    text = (f"{rule.sli.replace('_', ' ')} {where} {verb}{before} to {breach.short.value:.1%} "
            f"(last {rule.windows.short_hours} h; {breach.long.value:.1%} over {rule.windows.long_hours} h)")
    if attribution and attribution.slice != breach.slice:
        change = (f"{attribution.before:.0%} → {attribution.now:.0%}" if attribution.before is not None
                  else f"{attribution.now:.0%}, new")
        text += f"; explained by {attribution.slice} ({change})"
        if attribution.new_value:
            dimension, value, first = attribution.new_value
            text += f" since {dimension} {value} appeared at {first:%H:%M}"
    return text


@dataclass(frozen=True)
class IncidentChanges:
    opened: list[Breach]
    resolved: list[dict]
    open: dict[str, dict]


def track(open_incidents: dict[str, dict], breaches: list[Breach], hour: datetime) -> IncidentChanges:
    """Open an incident for a new breach, keep it while it breaches, resolve it when it stops."""
    current = {breach.key: breach for breach in breaches}
    opened = [breach for key, breach in current.items() if key not in open_incidents]
    resolved = [incident for key, incident in open_incidents.items() if key not in current]
    still = {key: incident for key, incident in open_incidents.items() if key in current}
    still |= {breach.key: {"rule": breach.rule.name, "slice": breach.slice, "opened_hour": hour.isoformat(),
                           "severity": breach.rule.severity, "baseline": breach.baseline_value}
              for breach in opened}
    return IncidentChanges(opened, resolved, still)


def frozen_baselines(open_incidents: dict[str, dict]) -> dict[str, float]:
    """The baselines open incidents started from, by breach key (see ``evaluate_rules``)."""
    return {key: incident["baseline"] for key, incident in open_incidents.items()
            if incident.get("baseline") is not None}
