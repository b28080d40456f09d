"""PagerDuty, through the Events API v2: the incident is PagerDuty's ``dedup_key`` too, so an event sent again
(even by hand) never opens a second PagerDuty incident, and the resolve closes the one the opening made."""

import os
from collections.abc import Callable
from typing import Literal

from eval_pipelines.monitoring.channels.base import AlertEvent, Channel, Delivery, HttpChannel, post_json

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"page": "critical", "ticket": "warning", "info": "info"}


class PagerDutyChannel(HttpChannel):
    type: Literal["pagerduty"] = "pagerduty"
    """Picks the channel."""
    routing_key_env: str | None = None
    """The environment variable holding the integration (routing) key."""


def send(name: str, settings: PagerDutyChannel, event: AlertEvent, log: Callable[[str], None]) -> Delivery:
    payload = {"routing_key": os.environ.get(settings.routing_key_env or "", ""), "dedup_key": event.incident,
               "event_action": "resolve" if event.event == "resolved" else "trigger",
               "payload": {"summary": f"{event.rule}: {event.message}"[:1024], "source": "eval_pipelines",
                           "severity": SEVERITY[event.severity], "custom_details": event.details}}
    return post_json(name, settings.target() or EVENTS_URL, payload, settings.url_env or "url")


CHANNEL = Channel(PagerDutyChannel, send)
