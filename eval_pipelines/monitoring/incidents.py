"""Incidents from breaches: opened once, kept while the breach lasts, resolved when it clears; and
attribution: which slice explains the change, and whether a new version appeared when it started.

Attribution compares, for the breaching SLI, every ``route×prompt_version×model`` slice's rate and
share of the denominator in the short window with the baseline before the long window. A slice's
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
import pyarrow.compute as pc

from eval_pipelines.monitoring.rules import Breach, duration_text, finest

COMBINATION = "route×prompt_version×model"
ATTRIBUTION_BASELINE = timedelta(hours=6)
# A version, model or route first seen this long before the long window began still counts as new.
NEW_VALUE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Attribution:
    slice: str
    before: float | None
    now: float
    new_value: tuple[str, str, datetime] | None  # (dimension, value, first time seen)


def _of_sli(history: pa.Table, sli: str) -> pa.Table:
    return history.filter(pc.equal(history.column("sli"), sli))


def _rate(rows: list[dict]) -> tuple[float | None, float]:
    denominator = sum(r["denominator"] or 0.0 for r in rows)
    return (sum(r["numerator"] or 0.0 for r in rows) / denominator if denominator else None), denominator


def attribute(breach: Breach, history: pa.Table) -> Attribution | None:
    rule = breach.rule
    end = breach.at
    short_start = end - timedelta(minutes=rule.windows.short)
    before_end = end - timedelta(minutes=rule.windows.long)
    before_start = before_end - (timedelta(minutes=rule.condition.baseline) if rule.condition.threshold is None
                                 else ATTRIBUTION_BASELINE)
    history = finest(history)
    rows = [r for r in _of_sli(history, rule.sli).to_pylist() if r["denominator"] is not None]
    parts = [r for r in rows if r["dimension"] == COMBINATION
             and all(r[column] == value for column, value in rule.slice.equals.items())]
    now = [r for r in parts if short_start <= r["window_start"] < end]
    before = [r for r in parts if before_start <= r["window_start"] < before_end]
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
    """A prompt version, model or route of the slice that the history before ``since`` never saw."""
    values = dict(part.split("=", 1) for part in slice_key.split(", "))
    rows = _of_sli(history, "volume").to_pylist()
    for dimension in ("prompt_version", "model", "route"):
        seen = sorted(r["window_start"] for r in rows
                      if r["dimension"] == dimension and r[dimension] == values.get(dimension))
        if seen and seen[0] >= since - NEW_VALUE_SLACK and any(r["window_start"] < seen[0] for r in rows):
            return dimension, values[dimension], seen[0]
    return None


def describe(breach: Breach, attribution: Attribution | None) -> str:
    """One line a person paged at night understands."""
    rule = breach.rule
    where = "overall" if breach.slice == "total" else f"on {breach.slice}"
    verb = "rose" if rule.direction == "up" else "fell"
    before = f" from {breach.baseline.value:.1%}" if breach.baseline and breach.baseline.value is not None else ""
    text = (f"{rule.sli.replace('_', ' ')} {where} {verb}{before} to {breach.short.value:.1%} "
            f"(last {duration_text(rule.windows.short)}; {breach.long.value:.1%} over "
            f"{duration_text(rule.windows.long)})")
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


def track(open_incidents: dict[str, dict], breaches: list[Breach], at: datetime) -> IncidentChanges:
    """Open an incident for a new breach, keep it while it breaches, resolve it once the breach has been gone for
    its rule's ``keep_firing``. Rules on one SLI share their incidents: while one is open on an SLI, another
    rule breaching on it (a slower window, another slice) opens none, so one problem pages once."""
    current = {breach.key: breach for breach in breaches}
    resolved, still = [], {}
    for key, incident in open_incidents.items():
        if key in current:
            still[key] = {name: value for name, value in incident.items() if name != "clear_since"}
            continue
        clear_since = incident.get("clear_since") or at.isoformat()
        if at - datetime.fromisoformat(clear_since) >= timedelta(minutes=incident.get("keep_firing", 0)):
            resolved.append(incident)
        else:
            still[key] = {**incident, "clear_since": clear_since}
    paging = {incident.get("sli") for incident in still.values()}
    opened = []
    for key, breach in current.items():
        if key not in open_incidents and breach.rule.sli not in paging:
            opened.append(breach)
            paging.add(breach.rule.sli)
    still |= {breach.key: {"rule": breach.rule.name, "sli": breach.rule.sli, "slice": breach.slice,
                           "opened_at": at.isoformat(), "severity": breach.rule.severity,
                           "baseline": breach.baseline_value, "keep_firing": breach.rule.keep_firing}
              for breach in opened}
    return IncidentChanges(opened, resolved, still)


def frozen_baselines(open_incidents: dict[str, dict]) -> dict[str, float]:
    """The baselines open incidents started from, by breach key (see ``evaluate_rules``)."""
    return {key: incident["baseline"] for key, incident in open_incidents.items()
            if incident.get("baseline") is not None}
