"""The ``alerts`` asset over minute SLIs in a real lake: incidents open and resolve at the minute the windows
say, each event reaches a channel once, whatever is re-run or killed."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta

import dagster as dg
import pyarrow as pa
import pytest
import yaml

from eval_pipelines.defs.monitoring.assets import alerts
from eval_pipelines.defs.resources import LakeResource, MonitoringConfigResource
from eval_pipelines.hours import hour_key
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.paging import STATE
from eval_pipelines.schemas import QUALITY_SLIS
from eval_pipelines_tests.monitoring.test_rules import T0
from eval_pipelines_tests.servers import PROJECT, Receiver, wait_until

FIRST_HOUR = int(T0.timestamp()) // 3600


def land_minutes(lake: Lake, hour: int, rates: list[float]) -> None:
    """One hour of minute rows of the total refusal rate (100 requests a minute)."""
    start = T0 + timedelta(hours=hour)
    rows = [{"hour_start": start, "window_start": start + timedelta(minutes=m), "window_minutes": 1,
             "dimension": "total", "slice": "total", "sli": "refusal_rate", "numerator": rate * 100,
             "denominator": 100.0, "value": rate} for m, rate in enumerate(rates)]
    lake.write_partition("quality_slis", "hour", hour_key(FIRST_HOUR + hour), pa.Table.from_pylist(
        rows, schema=QUALITY_SLIS))


def rules_file(tmp_path, *urls: str):
    channels = {"log": {"type": "log"}} | {f"hook{n}": {"type": "webhook", "url": url} for n, url in enumerate(urls)}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"channels": channels, "rules": [
        {"name": "refusals", "sli": "refusal_rate", "condition": {"threshold": 0.1}, "confidence": 0,
         "windows": {"short": "10m", "long": "20m"}, "min_samples": 100, "keep_firing": "5m",
         "channels": [*channels][::-1]}]}))
    return path


def materialize(home, rules, hour: int, instance):
    resources = {"lake": LakeResource(home=str(home.root)),
                 "monitoring": MonitoringConfigResource(alert_rules=str(rules), evidently_workspace=False)}
    return dg.materialize([alerts], partition_key=hour_key(FIRST_HOUR + hour), resources=resources,
                          instance=instance)


def recorded(home, hours) -> list[dict]:
    table = Lake(home.warehouse).read_partitions("alerts", "hour", [hour_key(FIRST_HOUR + h) for h in hours])
    return table.to_pylist() if table is not None else []


@pytest.fixture
def incident(home):
    """A quiet hour, then refusals at 30% from 01:30 to 02:20, quiet again after."""
    lake = Lake(home.warehouse)
    land_minutes(lake, 0, [0.02] * 60)
    land_minutes(lake, 1, [0.02] * 30 + [0.3] * 30)
    land_minutes(lake, 2, [0.3] * 20 + [0.02] * 40)
    return lake


def test_an_incident_opens_and_resolves_at_the_minute_its_windows_cross_and_a_dead_channel_stops_nothing(
        home, incident, instance, tmp_path):
    down = Receiver(failures=99, fail_with=503)
    try:
        rules = rules_file(tmp_path, down.url)
        for hour in range(3):
            materialize(home, rules, hour, instance)
    finally:
        down.close()
    events = recorded(home, range(3))
    # Opened at 01:36, when the 20-minute window holds 6 minutes at 30%: (6 × 30% + 14 × 2%) / 20 = 10.4%;
    # clear at 02:28, when the 10-minute window holds 8 quiet minutes: (2 × 30% + 8 × 2%) / 10 = 7.6%, and
    # resolved 5 minutes later (keep_firing).
    assert [(e["event"], e["evaluated_at"].strftime("%H:%M")) for e in events] == [
        ("opened", "01:36"), ("resolved", "02:33")]
    assert "back to normal at 2026-11-21 02:33 (open since 2026-11-21 01:36, 57 min)" in events[1]["message"]
    deliveries = [[(d["channel"], d["ok"]) for d in json.loads(e["deliveries"])] for e in events]
    assert deliveries == [[("hook0", False), ("log", True)]] * 2
    assert len(down.bodies) == 6  # 3 attempts for each of the 2 events
    assert Lake(home.warehouse).read_state(STATE)["evaluated_through"].startswith("2026-11-21T03:00")


def test_materializing_an_hour_again_sends_nothing_twice(home, incident, instance, tmp_path):
    hook = Receiver()
    try:
        rules = rules_file(tmp_path, hook.url)
        for hour in range(3):
            materialize(home, rules, hour, instance)
        state = Lake(home.warehouse).read_state(STATE)
        # A run stopped after it delivered and recorded the events, before it saved how far it got: the same
        # evaluations run again and find every event delivered.
        Lake(home.warehouse).write_state(STATE, {"evaluated_through": None, "open": {}, "days_through": {}})
        for hour in range(3):
            materialize(home, rules, hour, instance)
    finally:
        hook.close()
    assert [body["event"] for body in hook.bodies] == ["opened", "resolved"]
    assert len(recorded(home, range(3))) == 2
    assert Lake(home.warehouse).read_state(STATE) == state


def test_a_step_killed_while_delivering_is_not_delivered_again_and_says_so(home, incident, instance, tmp_path):
    stuck = Receiver(hold=True)
    rules = rules_file(tmp_path, stuck.url)
    script = textwrap.dedent(f"""
        import dagster as dg
        from eval_pipelines_tests.defs.monitoring.test_alerts import materialize
        from eval_pipelines.home import Home
        with dg.instance_for_test() as instance:
            for hour in (0, 1):
                materialize(Home({str(home.root)!r}), {str(rules)!r}, hour, instance)
    """)
    step = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(PROJECT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: stuck.bodies, 120, "the opened event reaching the webhook")
        os.killpg(step.pid, signal.SIGKILL)
        step.wait()
    finally:
        stuck.release()
    try:
        for hour in (1, 2):
            materialize(home, rules, hour, instance)
    finally:
        stuck.close()
    assert [body["event"] for body in stuck.bodies] == ["opened", "resolved"]
    opened, resolved = recorded(home, range(3))
    assert [(d["channel"], d["ok"]) for d in json.loads(opened["deliveries"])] == [("hook0", None), ("log", None)]
    assert "not sent again" in json.loads(opened["deliveries"])[0]["error"]
    assert [d["ok"] for d in json.loads(resolved["deliveries"])] == [True, True]


def test_an_hour_landing_late_is_evaluated_again_with_the_hours_after_it(home, instance, tmp_path):
    """Refusals from 01:30 in an hour that lands after the quiet hour following it: its incident is paged
    and resolved at the same minutes as if the hours had landed in order."""
    lake = Lake(home.warehouse)
    land_minutes(lake, 0, [0.02] * 60)
    land_minutes(lake, 2, [0.02] * 60)
    hook = Receiver()
    try:
        rules = rules_file(tmp_path, hook.url)
        for hour in (0, 2):
            materialize(home, rules, hour, instance)
        assert not hook.bodies
        land_minutes(lake, 1, [0.02] * 30 + [0.3] * 30)
        materialize(home, rules, 1, instance)
        materialize(home, rules, 1, instance)
    finally:
        hook.close()
    events = recorded(home, range(3))
    assert [(e["event"], e["evaluated_at"].strftime("%H:%M")) for e in events] == [
        ("opened", "01:36"), ("resolved", "02:13")]
    assert [body["event"] for body in hook.bodies] == ["opened", "resolved"]


def test_an_incident_found_again_by_late_data_is_not_paged_twice(home, incident, instance, tmp_path):
    """The hour after the incident's start lands first and pages it at 02:01; the hour before lands late and
    shows it started at 01:36: the alert rows say so, and the page stays the one incident, resolved once."""
    hook = Receiver()
    try:
        rules = rules_file(tmp_path, hook.url)
        for hour in (0, 2, 1):
            materialize(home, rules, hour, instance)
    finally:
        hook.close()
    assert [(e["event"], e["evaluated_at"].strftime("%H:%M")) for e in recorded(home, range(3))] == [
        ("opened", "01:36"), ("resolved", "02:33")]
    assert [(body["event"], body["at"][11:16]) for body in hook.bodies] == [("opened", "02:01"), ("resolved", "02:33")]
    assert hook.bodies[0]["incident"] == hook.bodies[1]["incident"]
