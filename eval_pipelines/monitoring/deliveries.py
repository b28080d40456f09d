"""Delivering each alert event at most once, whatever is retried.

Every event has a dedup key (its incident and whether it opened or resolved). Before sending, the sender
claims the key with a record in the lake that only one writer can create; after sending, it completes the
record with the outcome. A re-run that finds the record sends nothing and reports the recorded outcome; a
record still only claimed means the step that claimed it stopped while sending: it is not sent again
(at most once), and the outcome is reported as unknown. PagerDuty receives the incident as its own
``dedup_key`` as well, so even a page repeated by hand would not open a second PagerDuty incident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.alerting import dedup_key
from eval_pipelines.monitoring.channels import AlertEvent, Delivery, deliver
from eval_pipelines.monitoring.rules import AlertConfig

INTERRUPTED = "not known: the step that sent it stopped before recording the outcome; not sent again"


def _record(key: str) -> str:
    return f"deliveries/{key}"


def deliver_once(store: Lake, config: AlertConfig, event: AlertEvent, now: datetime,
                 log: Callable[[str], None]) -> tuple[list[Delivery], bool]:
    """The event to each of its rule's channels unless it was delivered (or claimed) before; the deliveries
    and whether they happened now."""
    key = _record(dedup_key(event))
    if not store.create_state(key, {"status": "claimed", "claimed_at": now.isoformat()}):
        recorded = store.read_state(key) or {}
        if recorded.get("status") == "sent":
            return [Delivery(**delivery) for delivery in recorded["deliveries"]], False
        return [Delivery(name, None, 0, INTERRUPTED) for name in _channels_of(config, event.rule)], False
    deliveries = [deliver(name, config.channels[name], event, log) for name in _channels_of(config, event.rule)]
    store.write_state(key, {"status": "sent", "claimed_at": now.isoformat(),
                            "deliveries": [asdict(delivery) for delivery in deliveries]})
    return deliveries, True


def _channels_of(config: AlertConfig, rule_name: str) -> list[str]:
    return next(rule.channels for rule in config.rules if rule.name == rule_name)
