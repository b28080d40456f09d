"""End to end as a user runs it: `dagster dev -w workspace.yaml`, a backfill of a demo day launched through
the webserver's GraphQL API, the page reaching a webhook, and the UI and drift report in headless Chromium."""

import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from playwright.sync_api import sync_playwright

from eval_pipelines.cli import standin_judge
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines_tests.conftest import DEMO_DAY
from eval_pipelines_tests.e2e.backfills import (
    HOURLY_ASSETS,
    day_hours,
    launch_backfill,
    materialization_metadata,
    stop_instigators_except,
    wait_for_backfill,
)
from eval_pipelines_tests.servers import PROJECT, DagsterDev, Receiver, wait_until

PACKAGED_DRIFT = PROJECT / "eval_pipelines" / "defaults" / "drift.yaml"
# One rule the small demo day crosses: prompt v7's refusals after the rollout, paged to a webhook.
ALERT_RULES = {
    "channels": {"webhook": {"type": "webhook", "url_env": "E2E_ALERT_WEBHOOK_URL"}},
    "rules": [{"name": "refusal_rate_high", "description": "A prompt version refuses a fifth of requests.",
               "sli": "refusal_rate", "slice": {"dimension": "prompt_version"}, "condition": {"threshold": 0.2},
               "direction": "up", "windows": {"short_hours": 1, "long_hours": 2}, "min_samples": 5,
               "confidence": 0, "severity": "page", "channels": ["webhook"]}],
}


def user_config(root: Path, receiver: Receiver) -> dict[str, str]:
    """Alert rules and drift settings as a user edits them (the drift report compares the day with itself:
    the demo has one day)."""
    (root / "alert_rules.yaml").write_text(yaml.safe_dump(ALERT_RULES))
    drift = yaml.safe_load(PACKAGED_DRIFT.read_text()) | {"reference": {"start": DEMO_DAY.isoformat(),
                                                                         "end": DEMO_DAY.isoformat()}}
    (root / "drift.yaml").write_text(yaml.safe_dump(drift))
    return {"EVAL_PIPELINES_ALERT_RULES": str(root / "alert_rules.yaml"), "EVAL_PIPELINES_DRIFT": str(root / "drift.yaml"),
            "E2E_ALERT_WEBHOOK_URL": receiver.url}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path):
    """The demo day backfilled through the UI's API; yields the running server, the lake and the receiver."""
    root = tmp_path_factory.mktemp("e2e")
    home = Home(root / "home").ensure()
    dagster_home = root / "dagster"
    dagster_home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", dagster_home / "dagster.yaml")
    receiver = Receiver()
    with standin_judge():
        env = {"EVAL_PIPELINES_HOME": str(home.root), **user_config(root, receiver)}
        with DagsterDev(dagster_home, env, root / "dagster-dev.log") as server:
            stop_instigators_except(server, {"quality_alert_sensor"})
            shutil.copytree(demo_landing, home.landing, dirs_exist_ok=True)
            hourly = launch_backfill(server, HOURLY_ASSETS, day_hours(DEMO_DAY))
            status = wait_for_backfill(server, hourly, timeout_s=420)
            drift = launch_backfill(server, ["drift_report"], [DEMO_DAY.isoformat()])
            drift_status = wait_for_backfill(server, drift, timeout_s=180)
            wait_until(lambda: receiver.bodies, 150, "the page from quality_alert_sensor")
            yield server, home, receiver, (status, drift_status)
    receiver.close()


def test_the_backfill_of_the_day_succeeds_in_one_run_per_day(served):
    server, home, _, (status, drift_status) = served
    assert (status["status"], drift_status["status"]) == ("COMPLETED_SUCCESS", "COMPLETED_SUCCESS"), status
    assert status["numPartitions"] == 24
    assert len(status["runs"]) == 1 and status["runs"][0]["status"] == "SUCCESS"


def test_every_hour_of_the_day_is_in_the_lake_with_its_metadata(served):
    _, home, _, _ = served
    lake = Lake(home.warehouse)
    hours = day_hours(DEMO_DAY)
    rows = {key: lake.read_partition("traces", "hour", key).num_rows for key in hours}
    assert sum(rows.values()) == 600
    for table in ("trace_validation", "programmatic_scores", "judge_scores", "quality_slis"):
        assert lake.partition_keys(table, "hour") == hours, table
    with dg.DagsterInstance.from_config(str(served[0].dagster_home)) as instance:
        metadata = materialization_metadata(instance, "traces")
    assert {key: metadata[key]["dagster/row_count"] for key in hours} == rows


def test_checks_ran_and_the_alert_rule_paged_the_webhook(served):
    server, home, receiver, _ = served
    checks = server.graphql("""{ assetNodeOrError(assetKey: {path: ["quality_slis"]}) { ... on AssetNode {
        assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
    } } }""")["assetNodeOrError"]["assetChecksOrError"]["checks"]
    assert [check["name"] for check in checks] == ["quality_slis_refusal_rate_high"]
    assert checks[0]["executionForLatestMaterialization"]["status"] in {"SUCCEEDED", "FAILED"}
    opened = [body for body in receiver.bodies if body["event"] == "opened"]
    assert opened and {body["rule"] for body in opened} == {"refusal_rate_high"}
    assert any("prompt_version=v7" in body["slice"] for body in opened), opened
    assert "alerts" in Lake(home.warehouse).tables()


def test_the_drift_report_is_written_and_linked(served):
    _, home, _, _ = served
    with dg.DagsterInstance.from_config(str(served[0].dagster_home)) as instance:
        report = materialization_metadata(instance, "drift_report")[DEMO_DAY.isoformat()]["report"]
    path = Path(report.removeprefix("file://"))
    assert path == home.reports / "drift" / f"drift-{DEMO_DAY.isoformat()}.html" and path.stat().st_size > 10_000


def test_the_ui_shows_the_assets_plots_and_drift_report(served, tmp_path_factory):
    server, home, _, _ = served
    shots = tmp_path_factory.mktemp("screenshots")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}/asset-groups/ingestion")
        for name in ("traces", "trace_quarantine", "feedback_events"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "asset-graph.png")
        page.goto(f"{server.url}/assets/traces?view=plots")
        page.get_by_text("dagster/row_count").first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "traces-plots.png", full_page=True)
        page.goto((home.reports / "drift" / f"drift-{DEMO_DAY.isoformat()}.html").as_uri())
        page.get_by_text("input_text").first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "drift-report.png", full_page=True)
        drift_text = page.inner_text("body")
        browser.close()
    assert re.search(r"Dataset Drift|drift", drift_text, re.IGNORECASE)
    assert all((shots / name).stat().st_size > 20_000 for name in ("asset-graph.png", "traces-plots.png",
                                                                    "drift-report.png"))
