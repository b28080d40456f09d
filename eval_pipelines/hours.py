"""Hour and day keys: how partitions, tables and the alerting name a UTC hour or day."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

HOUR_KEY_FORMAT = "%Y-%m-%d-%H:%M"


def key_of_hour(start: datetime) -> str:
    return start.strftime(HOUR_KEY_FORMAT)


def hour_keys_before(end: datetime, minutes: int) -> list[str]:
    """The keys of the hours from ``minutes`` (rounded up to hours, plus one) before ``end`` up to its hour."""
    hours = math.ceil(minutes / 60) + 1
    return [key_of_hour(end - timedelta(hours=h)) for h in range(hours, -1, -1)]


def day_keys_before(day: date, minutes: int) -> list[str]:
    """The keys of the days from ``minutes`` (rounded up to days) before ``day`` up to it."""
    return [(day - timedelta(days=d)).isoformat() for d in range(math.ceil(minutes / 1440), -1, -1)]
