"""Hour and day keys: how partitions, tables and the alerting name a UTC hour or day."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

HOUR_KEY_FORMAT = "%Y-%m-%d-%H:%M"
START_ENV_VAR = "EVAL_PIPELINES_START"
# Without EVAL_PIPELINES_START, the partitions start on the first day of the month this many months back.
DEFAULT_START_MONTHS_BACK = 2


def partitions_start(environ: Mapping[str, str] = os.environ, today: date | None = None) -> date:
    """The first day of the hourly and daily partitions: ``EVAL_PIPELINES_START`` (YYYY-MM-DD), or the first of the
    month two months back (between 60 and 92 days of history: what a new install's partition bars show)."""
    value = environ.get(START_ENV_VAR, "").strip()
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{START_ENV_VAR}={value!r} is not a date (YYYY-MM-DD)") from None
    today = today or datetime.now(UTC).date()
    months = today.year * 12 + today.month - 1 - DEFAULT_START_MONTHS_BACK
    return date(months // 12, months % 12 + 1, 1)


def hour_key(hour_index: int) -> str:
    """The key of the hour ``hour_index`` hours after the epoch."""
    return datetime.fromtimestamp(hour_index * 3600, tz=UTC).strftime(HOUR_KEY_FORMAT)


def hour_index(key: str) -> int:
    """The hours from the epoch to the hour ``key`` names."""
    return int(datetime.strptime(key, HOUR_KEY_FORMAT).replace(tzinfo=UTC).timestamp()) // 3600


def key_of_hour(start: datetime) -> str:
    return start.strftime(HOUR_KEY_FORMAT)


def hour_keys_before(end: datetime, minutes: int) -> list[str]:
    """The keys of the hours from ``minutes`` (rounded up to hours, plus one) before ``end`` up to its hour."""
    hours = math.ceil(minutes / 60) + 1
    return [key_of_hour(end - timedelta(hours=h)) for h in range(hours, -1, -1)]


def day_keys_before(day: date, minutes: int) -> list[str]:
    """The keys of the days from ``minutes`` (rounded up to days) before ``day`` up to it."""
    return [(day - timedelta(days=d)).isoformat() for d in range(math.ceil(minutes / 1440), -1, -1)]
