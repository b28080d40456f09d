"""Alert channels against a real local HTTP receiver, including one that fails."""

from datetime import UTC, datetime

import pytest

from eval_pipelines.config import ConfigError
from eval_pipelines.monitoring.channels import CHANNELS, AlertEvent, deliver
from eval_pipelines.monitoring.channels.log import LogChannel
from eval_pipelines.monitoring.channels.pagerduty import PagerDutyChannel
from eval_pipelines.monitoring.channels.slack import SlackChannel
from eval_pipelines.monitoring.channels.webhook import WebhookChannel
from eval_pipelines.monitoring.rules import load_alert_config
from eval_pipelines_tests.servers import Receiver

OPENED_AT = datetime(2026, 11, 21, 14, 7, tzinfo=UTC)
EVENT = AlertEvent("opened", "refusal_rate_up|total", "refusal_rate_up", "total", "page",
                   "refusal rate overall rose from 2% to 15%", {"sli": "refusal_rate"}, OPENED_AT,
                   f"refusal_rate_up|total|{OPENED_AT.isoformat()}")


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def test_slack_gets_a_text_message(receiver):
    delivery = deliver("slack", SlackChannel(url=receiver.url), EVENT, print)
    assert delivery.ok and receiver.bodies == [{"text": "🚨 page: refusal_rate_up — refusal rate overall rose from "
                                                         "2% to 15%"}]


def test_pagerduty_gets_an_events_v2_trigger_and_resolve_with_one_dedup_key(receiver, monkeypatch):
    monkeypatch.setenv("PD_KEY", "routing-key-123")
    settings = PagerDutyChannel(url=receiver.url, routing_key_env="PD_KEY")
    resolved = AlertEvent("resolved", EVENT.key, EVENT.rule, EVENT.slice, EVENT.severity, "back to normal", {},
                          OPENED_AT.replace(minute=40), EVENT.incident)
    assert deliver("pd", settings, EVENT, print).ok and deliver("pd", settings, resolved, print).ok
    trigger, resolve = receiver.bodies
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    # One PagerDuty incident per incident here: a later breach of the same rule and slice is a new one.
    assert trigger["dedup_key"] == resolve["dedup_key"] == EVENT.incident
    assert trigger["routing_key"] == "routing-key-123"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "eval_pipelines"


def test_a_webhook_url_can_come_from_the_environment(receiver, monkeypatch):
    monkeypatch.setenv("HOOK_URL", receiver.url)
    assert deliver("hook", WebhookChannel(url_env="HOOK_URL"), EVENT, print).ok
    assert receiver.bodies[0]["key"] == EVENT.key and receiver.bodies[0]["details"] == {"sli": "refusal_rate"}


def test_a_failing_receiver_is_retried_then_recorded_without_raising():
    flaky, down = Receiver(failures=2), Receiver(failures=99, fail_with=500)
    try:
        recovered = deliver("hook", WebhookChannel(url=flaky.url), EVENT, print)
        failed = deliver("hook", WebhookChannel(url=down.url), EVENT, print)
    finally:
        flaky.close()
        down.close()
    assert (recovered.ok, recovered.attempts) == (True, 3)
    assert (failed.ok, failed.attempts, failed.error) == (False, 3, "HTTP 500")
    assert len(down.bodies) == 3


def test_a_refusing_receiver_is_not_retried_and_a_closed_port_is_recorded(receiver):
    refused = Receiver(failures=99, fail_with=400)
    try:
        delivery = deliver("hook", WebhookChannel(url=refused.url), EVENT, print)
    finally:
        refused.close()
    assert (delivery.ok, len(refused.bodies), delivery.error) == (False, 1, "HTTP 400")
    closed = deliver("hook", WebhookChannel(url=refused.url), EVENT, print)
    assert not closed.ok and closed.error == "ConnectError"


def test_the_log_channel_writes_the_message():
    lines = []
    assert deliver("log", LogChannel(), EVENT, lines.append).ok
    assert lines == ["[page] opened: refusal_rate_up — refusal rate overall rose from 2% to 15%"]


@pytest.mark.parametrize("channel_type", sorted(CHANNELS))
def test_every_registered_channel_type_is_accepted_by_the_rules_file_with_its_own_settings(tmp_path, channel_type):
    path = tmp_path / "rules.yaml"
    path.write_text(f"channels:\n  mine: {{type: {channel_type}}}\nrules: []\n")
    assert type(load_alert_config(path).channels["mine"]) is CHANNELS[channel_type].settings


def test_an_unknown_channel_type_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("channels:\n  mine: {type: carrier_pigeon}\nrules: []\n")
    with pytest.raises(ConfigError, match=f"{path}:2: "):
        load_alert_config(path)
