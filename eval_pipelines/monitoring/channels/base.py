"""What every alert channel shares: the event it receives, the outcome it records, and delivery over HTTP.

Every HTTP delivery is retried (3 attempts, short exponential backoff, on connection errors, 429 and 5xx) and its
outcome recorded; a failing channel never stops the others. URLs and keys come from the environment variables the
channel names (they are secrets) and never appear in the outcome.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from eval_pipelines.config import SettingsModel

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AlertEvent:
    """An incident opening or resolving, as channels receive it."""

    event: str  # opened | resolved
    key: str  # rule|slice
    rule: str
    slice: str
    severity: str
    message: str
    details: dict[str, Any]
    at: datetime  # the evaluation that found it
    incident: str  # rule|slice|opened at: the same for an incident's opening and its resolve


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool | None  # None: unknown (the step sending it stopped before it could record the outcome)
    attempts: int
    error: str | None = None


class ChannelBase(SettingsModel):
    """A channel's settings in the alert rules file (``type`` picks the channel)."""


class HttpChannel(ChannelBase):
    url: str | None = None
    """The URL to post to."""
    url_env: str | None = None
    """Or the environment variable holding it (webhook URLs are secrets)."""

    def target(self) -> str | None:
        return os.environ.get(self.url_env) if self.url_env else self.url


Send = Callable[[str, Any, AlertEvent, Callable[[str], None]], Delivery]


@dataclass(frozen=True)
class Channel:
    """One channel type: its settings model and how it sends an event (never raising)."""

    settings: type[ChannelBase]
    send: Send


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def post_json(name: str, url: str | None, payload: dict[str, Any], missing_url: str) -> Delivery:
    """``payload`` posted to ``url``, retried; the outcome, never an exception."""
    if not url:
        return Delivery(name, False, 0, f"no URL: set {missing_url}")
    attempts = 0
    try:
        for attempt in Retrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2),
                                retry=retry_if_exception(_retryable), reraise=True):
            with attempt:
                attempts += 1
                httpx.post(url, json=payload, timeout=TIMEOUT_S).raise_for_status()
    except httpx.HTTPStatusError as exc:
        return Delivery(name, False, attempts, f"HTTP {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return Delivery(name, False, attempts, type(exc).__name__)
    return Delivery(name, True, attempts)


def icon(event: AlertEvent) -> str:
    return "✅ resolved" if event.event == "resolved" else f"🚨 {event.severity}"
