"""Where alerts go: the Dagster log, Slack (incoming webhook), PagerDuty (Events API v2), any JSON webhook.

Every delivery is retried (3 attempts, short exponential backoff, on connection errors, 429 and 5xx)
and its outcome recorded; a failing channel never stops the others. URLs and keys come from the
environment variables the channel names (they are secrets) and never appear in the outcome.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from eval_pipelines.monitoring.rules import ChannelSettings

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}
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


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def _post(url: str, payload: dict[str, Any]) -> int:
    attempts = 0
    for attempt in Retrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2),
                            retry=retry_if_exception(_retryable), reraise=True):
        with attempt:
            attempts += 1
            httpx.post(url, json=payload, timeout=TIMEOUT_S).raise_for_status()
    return attempts


def _url(settings: ChannelSettings) -> str | None:
    return os.environ.get(settings.url_env) if settings.url_env else settings.url


def _payload(settings: ChannelSettings, event: AlertEvent) -> tuple[str | None, dict[str, Any]]:
    icon = "✅ resolved" if event.event == "resolved" else f"🚨 {event.severity}"
    if settings.type == "slack":
        return _url(settings), {"text": f"{icon}: {event.rule} — {event.message}"}
    if settings.type == "pagerduty":
        routing_key = os.environ.get(settings.routing_key_env or "", "")
        return _url(settings) or PAGERDUTY_EVENTS_URL, {
            "routing_key": routing_key, "dedup_key": event.incident,
            "event_action": "resolve" if event.event == "resolved" else "trigger",
            "payload": {"summary": f"{event.rule}: {event.message}"[:1024], "source": "eval_pipelines",
                        "severity": PAGERDUTY_SEVERITY[event.severity], "custom_details": event.details}}
    return _url(settings), {"event": event.event, "key": event.key, "incident": event.incident, "rule": event.rule,
                            "slice": event.slice, "severity": event.severity, "message": event.message,
                            "at": event.at.isoformat(), "details": event.details}


def deliver(name: str, settings: ChannelSettings, event: AlertEvent, log: Callable[[str], None]) -> Delivery:
    """Sends one event to one channel; never raises."""
    if settings.type == "log":
        log(f"[{event.severity}] {event.event}: {event.rule} — {event.message}")
        return Delivery(name, True, 1)
    url, payload = _payload(settings, event)
    if not url:
        return Delivery(name, False, 0, f"no URL: set {settings.url_env or 'url'}")
    try:
        return Delivery(name, True, _post(url, payload))
    except httpx.HTTPStatusError as exc:
        return Delivery(name, False, 3 if _retryable(exc) else 1, f"HTTP {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return Delivery(name, False, 3, type(exc).__name__)
