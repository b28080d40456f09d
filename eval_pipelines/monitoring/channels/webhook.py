"""Any JSON webhook: the whole event."""

from collections.abc import Callable
from typing import Literal

from eval_pipelines.monitoring.channels.base import AlertEvent, Channel, Delivery, HttpChannel, post_json


class WebhookChannel(HttpChannel):
    type: Literal["webhook"] = "webhook"
    """Picks the channel."""


def send(name: str, settings: WebhookChannel, event: AlertEvent, log: Callable[[str], None]) -> Delivery:
    payload = {"event": event.event, "key": event.key, "incident": event.incident, "rule": event.rule,
               "slice": event.slice, "severity": event.severity, "message": event.message,
               "at": event.at.isoformat(), "details": event.details}
    return post_json(name, settings.target(), payload, settings.url_env or "url")


CHANNEL = Channel(WebhookChannel, send)
