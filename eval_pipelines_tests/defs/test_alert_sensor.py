"""quality_alert_sensor with build_sensor_context over SLI partitions in a real lake."""

from datetime import timedelta

import dagster as dg
import pyarrow as pa
import yaml

from eval_pipelines.defs.partitions import RANGE_END, RANGE_START, hour_key
from eval_pipelines.defs.resources import MonitoringConfigResource
from eval_pipelines.defs.sensors import quality_alert_sensor, tick_summary
from eval_pipelines.lake import Lake
from eval_pipelines.schemas import QUALITY_SLIS
from eval_pipelines_tests.monitoring.test_rules import T0
from eval_pipelines_tests.servers import Receiver

FIRST_HOUR = int(T0.timestamp()) // 3600


def land_hours(lake: Lake, rates: dict[int, float]) -> None:
    for offset, rate in rates.items():
        hour = T0 + timedelta(hours=offset)
        lake.write_partition("quality_slis", "hour", hour_key(FIRST_HOUR + offset), pa.Table.from_pylist(
            [{"hour_start": hour, "dimension": "total", "slice": "total", "sli": "refusal_rate",
              "numerator": rate * 500, "denominator": 500.0, "value": rate}], schema=QUALITY_SLIS))


def test_an_incident_pages_once_resolves_once_and_a_dead_channel_stops_nothing(home, resources, instance, tmp_path):
    down = Receiver(failures=99, fail_with=503)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({
        "channels": {"log": {"type": "log"}, "hook": {"type": "webhook", "url": down.url}},
        "rules": [{"name": "refusals", "sli": "refusal_rate", "condition": {"threshold": 0.1},
                   "windows": {"short_hours": 1, "long_hours": 2}, "min_samples": 100, "channels": ["hook", "log"]}]}))
    resources = {**resources, "monitoring": MonitoringConfigResource(alert_rules=str(rules))}
    lake = Lake(home.warehouse)

    def tick(cursor, hours):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        result = quality_alert_sensor(context)
        # The evaluated hours' review queues follow in one run, once the hours' incidents are known.
        (request,) = result.run_requests
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == (hour_key(FIRST_HOUR + hours[0]),
                                                                        hour_key(FIRST_HOUR + hours[-1]))
        return tick_summary(context.cursor), context.cursor

    try:
        land_hours(lake, {0: 0.02, 1: 0.02, 2: 0.3, 3: 0.3})
        message, cursor = tick(None, range(4))
        assert "1 incident(s) opened" in message and "1 open" in message
        land_hours(lake, {4: 0.3})
        message, cursor = tick(cursor, [4])
        assert "0 incident(s) opened, 0 resolved, 1 open" in message  # no re-paging while it lasts
        land_hours(lake, {5: 0.02})
        message, cursor = tick(cursor, [5])
        assert "1 resolved, 0 open" in message
    finally:
        down.close()
    alerts = Lake(home.warehouse).read_partitions("alerts", "hour", [hour_key(FIRST_HOUR + h) for h in range(6)])
    assert alerts.column("event").to_pylist() == ["opened", "resolved"]
    deliveries = [d for row in alerts.column("deliveries").to_pylist() for d in yaml.safe_load(row)]
    assert [(d["channel"], d["ok"]) for d in deliveries] == [("hook", False), ("log", True)] * 2
    assert len(down.bodies) == 6  # 3 attempts for each of the 2 events
