"""End to end as a team runs it: `dagster dev -w workspace.yaml` on the scale-out instance of deploy/dagster.yaml
(a real PostgreSQL, queued runs, pools) with the lake on an S3-compatible object store, a backfill of a demo
day launched through the webserver's GraphQL API with the multiprocess executor at 4 processes, the page
reaching a webhook, the lake identical to a single-process run of the same day (as `make demo` runs it), and the
UI and drift report in headless Chromium."""

import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from eval_pipelines.definitions import build_defs
from eval_pipelines.defs.local_runs import LocalPipeline
from eval_pipelines.defs.partitions import RANGE_START
from eval_pipelines.defs.resources import MonitoringConfigResource, ScoringConfigResource
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines_tests.conftest import DEMO_DAY, lake_in_new_bucket
from eval_pipelines_tests.defs.test_backfill import comparable
from eval_pipelines_tests.e2e.backfills import (
    day_hours,
    hourly_job_assets,
    launch_backfill,
    materialization_metadata,
    stop_instigators_except,
    wait_for_backfill,
    wait_for_successful_run,
)
from eval_pipelines_tests.servers import PROJECT, DagsterDev, PostgresServer, Receiver, S3Server, wait_until

pytestmark = pytest.mark.e2e
# A third of the demo day, with its malformed JSON (09:00) and refusal spike (14:00): what the backfill covers.
HOURS = day_hours(DEMO_DAY)[9:17]
# `make screenshots` points it at docs/images, where the README and the site show them.
SCREENSHOTS_ENV_VAR = "EVAL_PIPELINES_SCREENSHOTS"
FOUR_PROCESSES = {"execution": {"config": {"multiprocess": {"max_concurrent": 4}}}}

PACKAGED_DRIFT = PROJECT / "eval_pipelines" / "defaults" / "drift.yaml"
# One rule the small demo day crosses: prompt v7's refusals after the rollout, paged to a webhook.
ALERT_RULES = {
    "channels": {"webhook": {"type": "webhook", "url_env": "E2E_ALERT_WEBHOOK_URL"}},
    "rules": [{"name": "refusal_rate_high", "description": "A prompt version refuses a fifth of requests.",
               "sli": "refusal_rate", "slice": {"dimension": "prompt_version"}, "condition": {"threshold": 0.2},
               "direction": "up", "windows": {"short": "1h", "long": "2h"}, "min_samples": 5,
               "confidence": 0, "severity": "page", "channels": ["webhook"]}],
}


def user_config(root: Path, receiver: Receiver) -> dict[str, str]:
    """Alert rules and drift settings as a user edits them (the drift report compares the day with itself:
    the demo has one day)."""
    (root / "alert_rules.yaml").write_text(yaml.safe_dump(ALERT_RULES))
    drift = yaml.safe_load(PACKAGED_DRIFT.read_text()) | {"reference": {"start": DEMO_DAY.isoformat(),
                                                                         "end": DEMO_DAY.isoformat()}}
    (root / "drift.yaml").write_text(yaml.safe_dump(drift))
    return {"EVAL_PIPELINES_ALERT_RULES": str(root / "alert_rules.yaml"),
            "EVAL_PIPELINES_DRIFT": str(root / "drift.yaml"), "E2E_ALERT_WEBHOOK_URL": receiver.url}


def scale_out_instance(dagster_home: Path) -> None:
    """deploy/dagster.yaml as shipped, but runs launched on this machine instead of as Kubernetes jobs (which
    cannot resume a run whose worker died: only Kubernetes' launcher can)."""
    config = yaml.safe_load((PROJECT / "deploy" / "dagster.yaml").read_text())
    del config["run_launcher"]
    config["run_monitoring"]["max_resume_run_attempts"] = 0
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path, s3_server: S3Server):
    """The demo day backfilled through the UI's API; yields the running server, the home and the receiver."""
    root = tmp_path_factory.mktemp("e2e")
    scale_out_instance(root / "dagster")
    receiver = Receiver()
    with standin_judge(), PostgresServer() as postgres, pytest.MonkeyPatch.context() as aws:
        home = Home(root / "home", lake_in_new_bucket(s3_server, aws)).ensure()
        env = {"EVAL_PIPELINES_HOME": str(home.root), "EVAL_PIPELINES_LAKE": home.lake, **s3_server.env,
               **postgres.env, **user_config(root, receiver)}
        with DagsterDev(root / "dagster", env, root / "dagster-dev.log") as server:
            # A new deployment calibrates the judge against the packaged seed labels first (labels_sensor).
            wait_for_successful_run(server, "calibration_job", timeout_s=180)
            stop_instigators_except(server, {"review_sensor"})
            shutil.copytree(demo_landing, home.landing, dirs_exist_ok=True)
            hourly = {asset: HOURS for asset in hourly_job_assets(build_defs(home))}
            drift = {asset: [DEMO_DAY.isoformat()] for asset in ("drift_report", "drift_scores")}
            backfill = launch_backfill(server, hourly | drift,
                                       run_config=FOUR_PROCESSES)
            status = wait_for_backfill(server, backfill, timeout_s=480)
            wait_until(lambda: receiver.bodies, 150, "the page from the alerts asset")
            yield server, home, receiver, status
    receiver.close()


@pytest.fixture(scope="module")
def single_process_lake(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path) -> Lake:
    """The same day as `make demo` runs it, in one process: the calibration first, then the day's hours."""
    home = Home(tmp_path_factory.mktemp("single-process") / "home").ensure()
    shutil.copytree(demo_landing, home.landing, dirs_exist_ok=True)
    with standin_judge(), dg.instance_for_test() as instance:
        # Without the per-hour HTML report and dashboard pushes: the tables compared are the same either way.
        pipeline = LocalPipeline(instance, build_defs(home, scoring=ScoringConfigResource(text_evals_report=False),
                                                       monitoring=MonitoringConfigResource(evidently_workspace=False)))
        calibration = pipeline.execute_job("calibration_job")
        day = pipeline.execute_hours(HOURS[0], HOURS[-1])
    assert calibration.success and day.success
    return Lake(home.lake)


def test_the_backfill_of_the_day_succeeds_in_one_hourly_run_and_the_drift_run(served):
    server, _, _, status = served
    assert status["status"] == "COMPLETED_SUCCESS", status
    assert [run["status"] for run in status["runs"]] == ["SUCCESS", "SUCCESS"]
    log = server.log.read_text()
    assert not re.search(r"database is locked|deadlock detected|could not obtain lock", log, re.IGNORECASE)


def test_the_steps_ran_in_parallel_processes_on_postgres_storage(served):
    server, _, _, status = served
    with server.instance() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        hourly = next(run for run in status["runs"] if instance.get_run_by_id(run["runId"]).tags.get(RANGE_START))
        records = instance.get_records_for_run(hourly["runId"], of_type=dg.DagsterEventType.STEP_START).records
        assert instance.get_run_by_id(hourly["runId"]).run_config == FOUR_PROCESSES
    steps = {record.event_log_entry.step_key: record.event_log_entry.dagster_event.pid for record in records}
    assert {"trace_ingestion", "programmatic_scores", "judge_scores", "quality_slis"} <= steps.keys()
    assert len(set(steps.values())) == len(records), "each step in its own process"


def test_the_lake_equals_the_single_process_run_of_the_day(served, single_process_lake):
    _, home, _, _ = served
    lake = Lake(home.lake)
    for table in ("traces", "trace_quarantine", "trace_validation", "programmatic_scores", "user_feedback",
                  "judge_sample", "judge_scores", "quality_slis"):
        for key in HOURS:
            assert comparable(lake, table, key) == comparable(single_process_lake, table, key), (table, key)


def test_every_hour_of_the_day_is_in_the_lake_with_its_metadata(served):
    _, home, _, _ = served
    lake = Lake(home.lake)
    hours = HOURS
    rows = {key: lake.read_partition("traces", "hour", key).num_rows for key in hours}
    assert sum(rows.values()) >= 300, "the busy half of the day: half of the demo's 600 requests or more"
    for table in ("trace_validation", "programmatic_scores", "judge_scores", "quality_slis"):
        assert lake.partition_keys(table, "hour") == hours, table
    with served[0].instance() as instance:
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
    assert "alerts" in Lake(home.lake).tables()


def test_the_drift_report_is_written_and_linked(served):
    _, home, _, _ = served
    with served[0].instance() as instance:
        report = materialization_metadata(instance, "drift_report")[DEMO_DAY.isoformat()]["report"]
    path = Path(report.removeprefix("file://"))
    assert path == home.reports / "drift" / f"drift-{DEMO_DAY.isoformat()}.html" and path.stat().st_size > 10_000


def test_the_ui_shows_the_assets_plots_and_drift_report(served):
    server, home, _, _ = served
    shots = Path(os.environ.get(SCREENSHOTS_ENV_VAR) or PROJECT / "test-output" / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}/locations/{server.location_name()}/asset-groups/ingestion")
        dismiss_welcome(page)
        # The graph renders only the nodes in view: feedback_events sits above them, out of the screenshot.
        for name in ("traces", "trace_quarantine"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"^[1-7] / 7 Passed$")).first.wait_for(timeout=60_000)  # traces' checks
        page.screenshot(path=shots / "ingestion-graph.png")
        page.goto(f"{server.url}/locations/{server.location_name()}/asset-groups/monitoring")
        for name in ("quality_slis", "alerts", "daily_alerts", "drift_report", "drift_scores"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"^[\d,]+ partitions$")).first.wait_for(timeout=60_000)  # the nodes' data
        page.get_by_text("Loading...").first.wait_for(state="detached", timeout=60_000)
        page.screenshot(path=shots / "monitoring-graph.png")
        plots = open_plots(page, f"{server.url}/assets/traces", ("dagster/row_count", "files_read", "rows_new"),
                           shots / "traces-plots.png")
        plots[0].scroll_into_view_if_needed()
        page.screenshot(path=shots / "traces-plots.png")
        page.goto((home.reports / "drift" / f"drift-{DEMO_DAY.isoformat()}.html").as_uri())
        page.get_by_text("input_text").first.wait_for(timeout=60_000)
        page.screenshot(path=shots / "drift-report.png", full_page=True)
        drift_text = page.inner_text("body")
        browser.close()
    assert re.search(r"Dataset Drift|drift", drift_text, re.IGNORECASE)
    assert all((shots / name).stat().st_size > 20_000 for name in ("ingestion-graph.png", "monitoring-graph.png",
                                                                    "traces-plots.png", "drift-report.png"))


def test_the_alerts_and_every_score_table_are_assets_with_their_lineage(served):
    nodes = served[0].graphql("""{ assetNodes { assetKey { path } dependencyKeys { path } } }""")["assetNodes"]
    upstream = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert upstream["alerts"] == {"quality_slis"}
    assert upstream["daily_alerts"] == {"drift_scores", "canary_scores", "divergence_scores"}
    assert "alerts" in upstream["review_queue"]
    assert {"judge_calibration_scores", "offline_judge_scores"} <= set(upstream)


def open_plots(page, url: str, titles: tuple[str, ...], failure_shot: Path, attempts: int = 3) -> list:
    """The asset page's Plots tab with the plots of ``titles`` on it (the UI plots the last 300 hourly partitions:
    the demo day is yesterday). The UI builds the plots from the event log after the page loads, which on a busy
    machine can outlast one wait: the page is loaded again (a few times at most) until every title shows."""
    for attempt in range(1, attempts + 1):
        page.goto(url)
        dismiss_welcome(page)
        page.get_by_role("button", name="Plots").click()
        plots = [page.get_by_text(title, exact=True).first for title in titles]
        try:
            for plot in plots:
                plot.wait_for(timeout=60_000)
            return plots
        except PlaywrightTimeout:
            page.screenshot(path=failure_shot.with_name(f"{failure_shot.stem}-attempt-{attempt}.png"))
    raise AssertionError(f"the plots {titles} did not show on {url} in {attempts} loads; see {failure_shot.parent}")


def dismiss_welcome(page) -> None:
    """The UI's first-visit newsletter dialog covers the page until it is skipped."""
    skip = page.get_by_text("Skip", exact=True)
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except PlaywrightTimeout:
        pass


def test_review_sensor_builds_the_queues_of_the_evaluated_hours(served):
    server, home, _, _ = served
    wait_for_successful_run(server, "review_job", timeout_s=150)  # one run over the backfilled hours
    assert set(Lake(home.lake).partition_keys("review_queue", "hour")) <= set(HOURS)
