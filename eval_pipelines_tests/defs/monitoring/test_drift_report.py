"""drift_report materialized over a real lake, its rule check, and the alert sensor's daily stream."""

from datetime import timedelta

import dagster as dg
import yaml

from eval_pipelines.defs.monitoring.assets import drift_report
from eval_pipelines.defs.resources import MonitoringConfigResource
from eval_pipelines.lake import Lake
from eval_pipelines_tests.defs.conftest import evaluate_daily_alerts
from eval_pipelines_tests.monitoring.test_drift import CALM, DAY, SHIFTED, land_day


def drift_resources(resources, tmp_path):
    settings = tmp_path / "drift.yaml"
    settings.write_text(yaml.safe_dump({"max_rows": 400}))
    return {**resources, "monitoring": MonitoringConfigResource(drift=str(settings))}


def test_a_shifted_day_drifts_fails_its_rule_check_and_pages_once(home, resources, instance, tmp_path):
    lake = Lake(home.warehouse)
    for back in range(1, 3):
        land_day(lake, DAY - timedelta(days=back), CALM, per_hour=100, seed=back)
    land_day(lake, DAY, SHIFTED, per_hour=100, seed=9)
    resources = drift_resources(resources, tmp_path)
    result = dg.materialize([drift_report], partition_key=DAY.isoformat(), resources=resources, instance=instance)
    metadata = result.asset_materializations_for_node("drift_report")[0].metadata
    assert metadata["drift_share"].value > 0.3 and "prompt_version" in metadata["drifted"].value
    assert (metadata["rows_current"].value, metadata["rows_reference"].value) == (400, 800)
    report = home.reports / "drift" / f"drift-{DAY}.html"
    assert metadata["report"].value == report.as_uri() and report.stat().st_size > 10_000
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "drift_report_traffic_drift" and not check.passed

    (alert,) = evaluate_daily_alerts(resources, instance, DAY.isoformat())
    assert alert["rule"] == "traffic_drift" and "drift share overall rose" in alert["message"].replace("_", " ")
    assert alert["evaluated_at"].date() == DAY + timedelta(days=1)  # evaluated at the end of the day
    assert len(evaluate_daily_alerts(resources, instance, DAY.isoformat())) == 1  # evaluated again: no new event


def test_a_day_like_the_days_before_passes(home, resources, instance, tmp_path):
    lake = Lake(home.warehouse)
    for back in range(0, 3):
        land_day(lake, DAY - timedelta(days=back), CALM, per_hour=100, seed=back)
    result = dg.materialize([drift_report], partition_key=DAY.isoformat(),
                            resources=drift_resources(resources, tmp_path), instance=instance)
    assert result.asset_materializations_for_node("drift_report")[0].metadata["drift_share"].value == 0.0
    assert all(check.passed for check in result.get_asset_check_evaluations())


def test_the_first_day_has_no_reference_and_says_so(home, resources, instance, tmp_path):
    land_day(Lake(home.warehouse), DAY, CALM, per_hour=100, seed=1)
    result = dg.materialize([drift_report], partition_key=DAY.isoformat(),
                            resources=drift_resources(resources, tmp_path), instance=instance)
    metadata = result.asset_materializations_for_node("drift_report")[0].metadata
    assert metadata["status"].value == "no reference data" and metadata["reference"].value == "2026-11-14..2026-11-20"
    assert not (home.reports / "drift").exists()


def test_a_day_without_traces_is_a_clear_failure(home, resources, instance, tmp_path):
    result = dg.materialize([drift_report], partition_key=DAY.isoformat(), raise_on_error=False,
                            resources=drift_resources(resources, tmp_path), instance=instance)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert f"no traces on {DAY}" in failure.step_failure_data.error.message
