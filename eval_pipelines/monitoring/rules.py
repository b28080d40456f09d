"""Alert rules (YAML) and their evaluation over the SLI history: multi-window, like burn-rate alerts.

A rule watches one SLI on the slices of one dimension (``total``, ``route``, ``prompt_version``,
``model`` or ``route×prompt_version×model``), optionally only slices with given values. Its condition
is a fixed ``threshold``, or a ``relative_change`` / ``absolute_change`` against the ``baseline`` window
just before the long window. Evaluated at a time ``at``, a slice breaches only when the short AND the
long window (both ending at ``at``, durations such as ``5m``, ``1h``, ``2d``) cross the condition, each
with at least ``min_samples`` in its denominator: a blip does not page, a sustained or severe change
does. Windows add up the finest SLI rows there are (the minutes of ``quality_slis``, the days
of the daily tables). For rates, a window crosses only when its Wilson interval at the rule's
``confidence`` (0.95 by default) lies wholly beyond the limit, so noise on small samples (1% of refusals
becoming 2.5% in a quiet hour) does not page; ``confidence: 0`` compares the bare rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from statistics import NormalDist
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BeforeValidator, Field, model_validator

from eval_pipelines.config import ConfigError, SettingsFile, SettingsModel, line_of, load_config
from eval_pipelines.monitoring.channels import ChannelSettings
from eval_pipelines.monitoring.channels.log import LogChannel
from eval_pipelines.monitoring.intervals import wilson
from eval_pipelines.monitoring.slis import CUSTOM_SLI_PREFIX

ALERT_RULES_FILE = SettingsFile("alert_rules.yaml", "EVAL_PIPELINES_ALERT_RULES")
# Where a rule's SLI lives: daily tables for the drift report's, the judge canary's and the online-offline
# divergence's results (by SLI name prefix), the hourly ``quality_slis`` for everything else.
DAILY_SLI_TABLES = {"drift_": "drift_scores", "canary_": "canary_scores", "divergence_": "divergence_scores"}
HOURLY_SLI_TABLE = "quality_slis"
DIMENSIONS = ("total", "route", "prompt_version", "model", "route×prompt_version×model",
              "metric×offline×prompt_version×model")


_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}


def parse_minutes(value: object) -> object:
    """``5m``, ``1h``, ``2d`` (or a number of minutes) as minutes."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", value)
        if not match:
            raise ValueError(f"{value!r} is not a duration: write it like 5m, 1h or 2d")
        return int(match[1]) * _UNIT_MINUTES[match[2]]
    return value


Minutes = Annotated[int, BeforeValidator(parse_minutes), Field(ge=1)]
MinutesOrZero = Annotated[int, BeforeValidator(parse_minutes), Field(ge=0)]


def duration_text(minutes: int) -> str:
    for unit, size in (("d", 24 * 60), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size} {unit}"
    return f"{minutes} min"


class SliceFilter(SettingsModel):
    dimension: Literal[DIMENSIONS] = "total"  # type: ignore[valid-type]
    """The slicing the rule watches: `total`, one dimension, or a combination."""
    equals: dict[Literal["route", "prompt_version", "model"], str] = {}
    """Only the slices with these values."""


class Condition(SettingsModel):
    threshold: float | None = None
    """Breached when the SLI is beyond this value."""
    relative_change: float | None = Field(default=None, gt=0)
    """Breached when the SLI moved by this fraction of its baseline."""
    absolute_change: float | None = Field(default=None, gt=0)
    """Breached when the SLI moved by this much from its baseline."""
    baseline: Minutes = 24 * 60
    """The window before the long window the change is measured against (like `1d`)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        kinds = ("threshold", "relative_change", "absolute_change")
        given = [name for name in kinds if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of threshold, relative_change, absolute_change (got {given or 'none'})")
        return self


class Windows(SettingsModel):
    short: Minutes = 60
    """Both windows must breach: the short one makes the page fast to resolve ..."""
    long: Minutes = 180
    """... and the long one keeps a blip from paging."""

    @model_validator(mode="after")
    def _short_within_long(self) -> Windows:
        if self.short > self.long:
            raise ValueError("the short window must not be longer than the long one")
        return self


class AlertRule(SettingsModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """The rule's name (snake_case); its asset check is named after it."""
    description: str = ""
    """What the rule watches, shown in the alert."""
    sli: str = Field(min_length=1)
    """The SLI watched (see the `quality_slis` and daily SLI tables)."""
    slice: SliceFilter = SliceFilter()
    """Which slices of the SLI the rule evaluates."""
    condition: Condition
    """When a window breaches."""
    direction: Literal["up", "down"] = "up"
    """`up`: a rise is bad (failure rates); `down`: a fall is bad (pass rates)."""
    windows: Windows = Windows()
    """The two windows that must both breach."""
    min_samples: int = Field(default=30, ge=1)
    """Windows with fewer samples do not breach."""
    confidence: float = Field(default=0.95, ge=0, lt=1)
    """The rate's Wilson interval at this confidence must lie wholly beyond the limit; `0` compares the bare rate."""
    severity: Literal["page", "ticket", "info"] = "ticket"
    """`page`, `ticket` or `info`."""
    channels: list[str] = ["log"]
    """The channels (defined under `channels`) an alert goes to."""
    advice: str = ""
    """What to do, appended to the alert message."""
    keep_firing: MinutesOrZero = 15
    """An incident resolves once its breach has been gone this long, so a rate hovering at the limit does not open
    and resolve it minute after minute; `0m` resolves at the first evaluation without the breach."""

    @property
    def table(self) -> str:
        """The table holding this rule's SLI."""
        return next((table for prefix, table in DAILY_SLI_TABLES.items() if self.sli.startswith(prefix)),
                    HOURLY_SLI_TABLE)


class AlertConfig(SettingsModel):
    channels: dict[str, ChannelSettings] = {"log": LogChannel()}
    """Channel name to its settings (`type` picks the channel)."""
    rules: list[AlertRule] = []
    """The alert rules."""

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
    path = path or ALERT_RULES_FILE.path()
    config = load_config(path, AlertConfig)
    if known_slis is not None:
        unknown = [(position, rule.sli) for position, rule in enumerate(config.rules) if rule.sli not in known_slis
                   and not rule.sli.startswith(("judge_pass_rate_", CUSTOM_SLI_PREFIX, *DAILY_SLI_TABLES))]
        if unknown:
            raise ConfigError("\n".join(
                f"{path}:{line_of(path, ('rules', position, 'sli'))}: rules.{position}.sli: unknown SLI {sli!r}; "
                f"known: {sorted(known_slis)}" for position, sli in unknown))
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
        low, high = wilson(self.value * self.samples, self.samples, _z(confidence))
        return high if upper else low

    def centre(self, confidence: float) -> float:
        """The centre of the rate's Wilson interval (the value itself for non-rates or confidence 0)."""
        if not self.is_rate or confidence == 0 or self.value is None:
            return self.value
        z = _z(confidence)
        return (self.value * self.samples + z * z / 2) / (self.samples + z * z)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf((1 + confidence) / 2)


@dataclass(frozen=True)
class Breach:
    rule: AlertRule
    slice: str
    at: datetime
    short: WindowValue
    long: WindowValue
    baseline: WindowValue | None

    @property
    def key(self) -> str:
        return f"{self.rule.name}|{self.slice}"

    @property
    def baseline_value(self) -> float | None:
        return self.baseline.value if self.baseline else None


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


@dataclass(frozen=True)
class _Series:
    """One slice of one SLI over time, with running sums so any window is two lookups. Rates pool
    numerators and denominators; plain values (latency…) average their rows."""

    starts: np.ndarray
    numerators: np.ndarray
    denominators: np.ndarray
    values: np.ndarray
    counts: np.ndarray
    is_rate: bool

    @classmethod
    def of(cls, starts: np.ndarray, numerators: np.ndarray, denominators: np.ndarray, values: np.ndarray) -> _Series:
        order = np.argsort(starts, kind="stable")

        def running(column: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], np.cumsum(np.nan_to_num(column[order]))])

        return cls(starts[order], running(numerators), running(denominators), running(values),
                   running(~np.isnan(values)), bool(not np.isnan(denominators).any()))

    def window(self, start_us: int, end_us: int) -> WindowValue:
        first, last = np.searchsorted(self.starts, [start_us, end_us], side="left")
        if first == last:
            return WindowValue(None, 0.0)
        if self.is_rate:
            denominator = self.denominators[last] - self.denominators[first]
            value = (self.numerators[last] - self.numerators[first]) / denominator if denominator else None
            return WindowValue(value, float(denominator), is_rate=True)
        count = self.counts[last] - self.counts[first]
        return WindowValue((self.values[last] - self.values[first]) / count if count else None, float(count))


def finest(history: pa.Table) -> pa.Table:
    """The rows of the smallest window there is (the minutes of an hour rather than the hour)."""
    if history.num_rows == 0:
        return history
    return history.filter(pc.equal(history.column("window_minutes"), pc.min(history.column("window_minutes"))))


def windows_between(rows: pa.Table, start: datetime, end: datetime) -> pa.Table:
    """The SLI rows whose window starts from ``start`` up to ``end`` (excluded)."""
    return rows.filter(pc.and_(pc.greater_equal(rows.column("window_start"), pa.scalar(start)),
                               pc.less(rows.column("window_start"), pa.scalar(end))))


def newest_window(rows: pa.Table, start: datetime, end: datetime) -> datetime | None:
    """The start of the newest window from ``start`` up to ``end`` that has rows (None without any)."""
    inside = windows_between(rows, start, end)
    return pc.max(inside.column("window_start")).as_py() if inside.num_rows else None


class SliHistory:
    """SLI rows (of one granularity) indexed per rule and slice, for evaluating rules at many times."""

    def __init__(self, history: pa.Table) -> None:
        self.history = finest(history)
        self._by_rule: dict[tuple, dict[str, _Series]] = {}

    @cached_property
    def _columns(self) -> dict[str, np.ndarray]:
        table = self.history
        numeric = {name: table.column(name).to_numpy(zero_copy_only=False).astype(float)
                   for name in ("numerator", "denominator", "value")}
        starts = table.column("window_start").cast(pa.int64()).to_numpy()
        text = {name: np.array(table.column(name).to_pylist(), dtype=object)
                for name in ("sli", "dimension", "slice", "route", "prompt_version", "model")}
        return {**numeric, **text, "starts": starts}

    def _series(self, rule: AlertRule) -> dict[str, _Series]:
        """The rule's SLI per slice it watches (worked out once per SLI and slice filter)."""
        key = (rule.sli, rule.slice.dimension, tuple(sorted(rule.slice.equals.items())))
        if key not in self._by_rule:
            self._by_rule[key] = self._slices(rule.sli, rule.slice)
        return self._by_rule[key]

    def _slices(self, sli: str, slice_filter: SliceFilter) -> dict[str, _Series]:
        columns = self._columns
        mask = (columns["sli"] == sli) & (columns["dimension"] == slice_filter.dimension)
        for column, value in slice_filter.equals.items():
            mask &= columns[column] == value
        slices = columns["slice"][mask]
        return {name: _Series.of(*(columns[c][mask][slices == name] for c in ("starts", "numerator", "denominator",
                                                                               "value")))
                for name in sorted(set(slices.tolist()))}

    def breaches(self, rules: list[AlertRule], at: datetime,
                 frozen_baselines: dict[str, float] | None = None) -> list[Breach]:
        """Breaches at ``at`` (the end of every window). ``frozen_baselines`` (by breach key) holds the baseline
        an open incident started from: while it is open the change is measured against what was normal before
        it, not against a baseline window that has filled up with the incident itself."""
        frozen = frozen_baselines or {}
        end = _us(at)
        found = []
        for rule in rules:
            long_start = end - rule.windows.long * 60_000_000
            for slice_key, series in self._series(rule).items():
                short = series.window(end - rule.windows.short * 60_000_000, end)
                long = series.window(long_start, end)
                key = f"{rule.name}|{slice_key}"
                baseline = (WindowValue(frozen[key], float("inf")) if key in frozen
                            else series.window(long_start - rule.condition.baseline * 60_000_000, long_start)
                            if rule.condition.threshold is None else None)
                if _crosses(rule, short, baseline) and _crosses(rule, long, baseline):
                    found.append(Breach(rule, slice_key, at, short, long, baseline))
        return found


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
    """The value the window must get beyond: the threshold, or the baseline moved by the change. A rate's baseline
    is taken at the centre of its Wilson interval, which is the rate itself on large samples but never 0 or 1:
    0 refusals in 400 requests are not a rate of 0 that any refusal would double."""
    condition, sign = rule.condition, 1 if rule.direction == "up" else -1
    if condition.threshold is not None:
        return condition.threshold
    if baseline is None or baseline.value is None or baseline.samples < rule.min_samples:
        return None
    reference = baseline.centre(rule.confidence)
    if condition.relative_change is not None:
        return reference * (1 + sign * condition.relative_change)
    return reference + sign * condition.absolute_change


def evaluate_rules(rules: list[AlertRule], history: pa.Table, at: datetime,
                   frozen_baselines: dict[str, float] | None = None) -> list[Breach]:
    """Breaches at ``at`` over the SLI ``history`` (see :meth:`SliHistory.breaches`)."""
    return SliHistory(history).breaches(rules, at, frozen_baselines)


def lookback_minutes(rules: list[AlertRule]) -> int:
    """How far back from an evaluation the rules read (windows, baselines, attribution), in minutes."""
    return max([rule.windows.long + rule.condition.baseline for rule in rules] + [7 * 60])
