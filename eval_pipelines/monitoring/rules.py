"""Alert rules (YAML) and their evaluation over the SLI history: multi-window, like burn-rate alerts.

A rule watches one SLI on the slices of one dimension (``total``, ``route``, ``prompt_version``,
``model`` or ``route×prompt_version×model``), optionally only slices with given values. Its condition
is a fixed ``threshold``, or a ``relative_change`` / ``absolute_change`` against the baseline window
just before the long window. A slice breaches only when the short AND the long window (ending at the
evaluated hour) both cross the condition, each with at least ``min_samples`` in its denominator: a
one-hour blip does not page, a sustained or severe change does. For rates, a window crosses only when
its Wilson interval at the rule's ``confidence`` (0.95 by default) lies wholly beyond the limit, so
noise on small samples (1% of refusals becoming 2.5% in a quiet hour) does not page; ``confidence:
0`` compares the bare rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from eval_pipelines.config import ConfigError, configured_path, load_config
from eval_pipelines.monitoring.intervals import wilson

ALERT_RULES_ENV_VAR = "EVAL_PIPELINES_ALERT_RULES"
# Where a rule's SLI lives: daily tables for the drift report's, the judge canary's and the online-offline
# divergence's results (by SLI name prefix), the hourly ``quality_slis`` for everything else.
DAILY_SLI_TABLES = {"drift_": "drift_scores", "canary_": "canary_scores", "divergence_": "divergence_scores"}
HOURLY_SLI_TABLE = "quality_slis"
DIMENSIONS = ("total", "route", "prompt_version", "model", "route×prompt_version×model",
              "metric×offline×prompt_version×model")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SliceFilter(_Strict):
    dimension: Literal[DIMENSIONS] = "total"  # type: ignore[valid-type]
    equals: dict[Literal["route", "prompt_version", "model"], str] = {}


class Condition(_Strict):
    threshold: float | None = None
    relative_change: float | None = Field(default=None, gt=0)
    absolute_change: float | None = Field(default=None, gt=0)
    baseline_hours: int = Field(default=24, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        kinds = ("threshold", "relative_change", "absolute_change")
        given = [name for name in kinds if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of threshold, relative_change, absolute_change (got {given or 'none'})")
        return self


class Windows(_Strict):
    short_hours: int = Field(default=1, ge=1)
    long_hours: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _short_within_long(self) -> Windows:
        if self.short_hours > self.long_hours:
            raise ValueError("short_hours must not exceed long_hours")
        return self


class AlertRule(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    sli: str = Field(min_length=1)
    slice: SliceFilter = SliceFilter()
    condition: Condition
    direction: Literal["up", "down"] = "up"
    windows: Windows = Windows()
    min_samples: int = Field(default=30, ge=1)
    confidence: float = Field(default=0.95, ge=0, lt=1)
    severity: Literal["page", "ticket", "info"] = "ticket"
    channels: list[str] = ["log"]
    advice: str = ""  # what to do, appended to the alert message

    @property
    def table(self) -> str:
        """The table holding this rule's SLI."""
        return next((table for prefix, table in DAILY_SLI_TABLES.items() if self.sli.startswith(prefix)),
                    HOURLY_SLI_TABLE)


class ChannelSettings(_Strict):
    type: Literal["log", "slack", "pagerduty", "webhook"]
    url: str | None = None  # or url_env: the environment variable holding it (webhook URLs are secrets)
    url_env: str | None = None
    routing_key_env: str | None = None  # PagerDuty Events API v2 integration key


class AlertConfig(_Strict):
    channels: dict[str, ChannelSettings] = {"log": ChannelSettings(type="log")}
    rules: list[AlertRule] = []

    def only(self, table: str) -> AlertConfig:
        """The rules evaluated on one SLI table."""
        return self.model_copy(update={"rules": [rule for rule in self.rules if rule.table == table]})

    @model_validator(mode="after")
    def _consistent(self) -> AlertConfig:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {duplicates}")
        for rule in self.rules:
            unknown = sorted(set(rule.channels) - set(self.channels))
            if unknown:
                raise ValueError(f"rule {rule.name!r} sends to unknown channel(s) {unknown}; "
                                 f"defined: {sorted(self.channels)}")
        return self


def load_alert_config(path: Path | None = None, known_slis: set[str] | None = None) -> AlertConfig:
    path = path or configured_path(ALERT_RULES_ENV_VAR, "alert_rules.yaml")
    config = load_config(path, AlertConfig)
    if known_slis is not None:
        unknown = sorted({rule.sli for rule in config.rules} - known_slis)
        unknown = [sli for sli in unknown if not sli.startswith(("judge_pass_rate_", *DAILY_SLI_TABLES))]
        if unknown:
            raise ConfigError(f"{path}: rules: unknown SLI(s) {unknown}; known: {sorted(known_slis)}")
    return config


@dataclass(frozen=True)
class WindowValue:
    value: float | None
    samples: float
    is_rate: bool = False

    def bound(self, upper: bool, confidence: float) -> float:
        """The rate's Wilson bound on the given side (the value itself for non-rates or confidence 0)."""
        if not self.is_rate or confidence == 0 or self.value is None:
            return self.value
        low, high = wilson(self.value * self.samples, self.samples, NormalDist().inv_cdf((1 + confidence) / 2))
        return high if upper else low


@dataclass(frozen=True)
class Breach:
    rule: AlertRule
    slice: str
    hour: datetime
    short: WindowValue
    long: WindowValue
    baseline: WindowValue | None

    @property
    def key(self) -> str:
        return f"{self.rule.name}|{self.slice}"

    @property
    def baseline_value(self) -> float | None:
        return self.baseline.value if self.baseline else None


def _window(rows: list[dict], start: datetime, end: datetime) -> WindowValue:
    """Rates pool numerators and denominators; plain values (latency…) average their hours."""
    inside = [r for r in rows if start <= r["hour_start"] < end]
    if not inside:
        return WindowValue(None, 0.0)
    if all(r["denominator"] is not None for r in inside):
        denominator = sum(r["denominator"] for r in inside)
        value = sum(r["numerator"] or 0.0 for r in inside) / denominator if denominator else None
        return WindowValue(value, denominator, is_rate=True)
    values = [r["value"] for r in inside if r["value"] is not None]
    return WindowValue(sum(values) / len(values) if values else None, float(len(values)))


def _crosses(rule: AlertRule, window: WindowValue, baseline: WindowValue | None) -> bool:
    if window.value is None or window.samples < rule.min_samples:
        return False
    limit = _limit(rule, baseline)
    if limit is None:
        return False
    if rule.direction == "up":
        return window.bound(upper=False, confidence=rule.confidence) > limit
    return window.bound(upper=True, confidence=rule.confidence) < limit


def _limit(rule: AlertRule, baseline: WindowValue | None) -> float | None:
    """The value the window must get beyond: the threshold, or the baseline moved by the change."""
    condition, sign = rule.condition, 1 if rule.direction == "up" else -1
    if condition.threshold is not None:
        return condition.threshold
    if baseline is None or baseline.value is None or baseline.samples < rule.min_samples:
        return None
    if condition.relative_change is not None:
        return baseline.value * (1 + sign * condition.relative_change)
    return baseline.value + sign * condition.absolute_change


def _matches(rule: AlertRule, row: dict) -> bool:
    return (row["sli"] == rule.sli and row["dimension"] == rule.slice.dimension
            and all(row[column] == value for column, value in rule.slice.equals.items()))


def evaluate_rules(rules: list[AlertRule], history: pa.Table, hour: datetime,
                   frozen_baselines: dict[str, float] | None = None) -> list[Breach]:
    """Breaches at ``hour`` (the start of the evaluated hour) over the SLI ``history``.

    ``frozen_baselines`` (by breach key) holds the baseline an open incident started from: while it
    is open the change is measured against what was normal before it, not against a baseline window
    that has filled up with the incident itself.
    """
    frozen = frozen_baselines or {}
    rows = history.to_pylist()
    end = hour + timedelta(hours=1)
    breaches = []
    for rule in rules:
        by_slice: dict[str, list[dict]] = {}
        for row in rows:
            if _matches(rule, row):
                by_slice.setdefault(row["slice"], []).append(row)
        long_start = end - timedelta(hours=rule.windows.long_hours)
        for slice_key, slice_rows in sorted(by_slice.items()):
            short = _window(slice_rows, end - timedelta(hours=rule.windows.short_hours), end)
            long = _window(slice_rows, long_start, end)
            key = f"{rule.name}|{slice_key}"
            baseline_start = long_start - timedelta(hours=rule.condition.baseline_hours)
            baseline = (WindowValue(frozen[key], float("inf")) if key in frozen
                        else _window(slice_rows, baseline_start, long_start) if rule.condition.threshold is None
                        else None)
            if _crosses(rule, short, baseline) and _crosses(rule, long, baseline):
                breaches.append(Breach(rule, slice_key, hour, short, long, baseline))
    return breaches
