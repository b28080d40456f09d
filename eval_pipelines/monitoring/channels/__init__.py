"""Where alerts go: one module per channel type in this package, each with its ``CHANNEL`` (settings model and
sender). A new channel is a module like ``webhook.py``; the alert rules file accepts its ``type`` from then on."""

import sys
from collections.abc import Callable
from typing import Annotated, Union

from pydantic import Field

from eval_pipelines.discovery import package_modules
from eval_pipelines.monitoring.channels.base import AlertEvent, Channel, Delivery

CHANNELS: dict[str, Channel] = {module.CHANNEL.settings.model_fields["type"].default: module.CHANNEL
                                for module in package_modules(sys.modules[__name__])
                                if hasattr(module, "CHANNEL")}
# A channel's settings in the alert rules file: the model of the channel its ``type`` names.
ChannelSettings = Annotated[Union[tuple(channel.settings for channel in CHANNELS.values())],  # noqa: UP007
                            Field(discriminator="type")]


def deliver(name: str, settings: ChannelSettings, event: AlertEvent, log_line: Callable[[str], None]) -> Delivery:
    """Sends one event to one channel; never raises."""
    return CHANNELS[settings.type].send(name, settings, event, log_line)


__all__ = ["CHANNELS", "AlertEvent", "ChannelSettings", "Delivery", "deliver"]
