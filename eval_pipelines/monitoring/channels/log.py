"""The run's log: every event as a line of the step that found it."""

from collections.abc import Callable
from typing import Literal

from eval_pipelines.monitoring.channels.base import AlertEvent, Channel, ChannelBase, Delivery


class LogChannel(ChannelBase):
    type: Literal["log"] = "log"
    """Picks the channel."""


def send(name: str, settings: LogChannel, event: AlertEvent, log: Callable[[str], None]) -> Delivery:
    log(f"[{event.severity}] {event.event}: {event.rule} — {event.message}")
    return Delivery(name, True, 1)


CHANNEL = Channel(LogChannel, send)
