"""Slack, through an incoming webhook: one line per event."""

from collections.abc import Callable
from typing import Literal

from eval_pipelines.monitoring.channels.base import AlertEvent, Channel, Delivery, HttpChannel, icon, post_json


class SlackChannel(HttpChannel):
    type: Literal["slack"] = "slack"
    """Picks the channel."""


def send(name: str, settings: SlackChannel, event: AlertEvent, log: Callable[[str], None]) -> Delivery:
    return post_json(name, settings.target(), {"text": f"{icon(event)}: {event.rule} — {event.message}"},
                     settings.url_env or "url")


CHANNEL = Channel(SlackChannel, send)
