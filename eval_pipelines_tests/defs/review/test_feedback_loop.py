"""The feedback loop on a demo hour, through dg.materialize, the sensors and the stand-in judge over HTTP:
review queue → exports → labels in every format → golden set → offline scores → divergence → alert."""

import csv
import json
from datetime import UTC, datetime

import dagster as dg
import pytest
import yaml

from eval_pipelines.definitions import defs
from eval_pipelines.defs.calibration.assets import judge_calibration, label_ingestion
from eval_pipelines.defs.offline.assets import offline_evaluation, online_offline_divergence
from eval_pipelines.defs.resources import ReviewConfigResource
from eval_pipelines.defs.review.assets import golden_set, review_queue
from eval_pipelines.defs.review.sensors import golden_refresh_sensor
from eval_pipelines.demo.reviewers import demo_label
from eval_pipelines.hours import hour_index
from eval_pipelines.judge import load_judge_settings, load_rubrics
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.alerting import alert_rows
from eval_pipelines.monitoring.channels import AlertEvent
from eval_pipelines.review.export import export_queue
from eval_pipelines.review.golden import latest_version
from eval_pipelines.standin.judge import judge_persona
from eval_pipelines.standin.server import StandinServer
from eval_pipelines_tests.conftest import DEMO_DAY
from eval_pipelines_tests.defs.conftest import evaluate_daily_alerts
from eval_pipelines_tests.defs.ingestion.test_assets import metadata
from eval_pipelines_tests.defs.judging.test_assets import ROLLOUT_HOUR, judge_hour, judge_resource

DAY = ROLLOUT_HOUR[:10]
LABELLED_AT = datetime(DEMO_DAY.year, DEMO_DAY.month, DEMO_DAY.day, 18, tzinfo=UTC)


def open_incident(lake: Lake, model: str) -> None:
    """The refusal incident the sensor would have opened at 14:00, explained by v7 on /orders."""
    hour = datetime.fromtimestamp(hour_index(ROLLOUT_HOUR) * 3600, tz=UTC)
    event = AlertEvent("opened", "refusal_rate_up|total", "refusal_rate_up", "total", "page", "refusals rose",
                       {"explained_by": f"route=/orders, prompt_version=v7, model={model}"}, hour,
                       f"refusal_rate_up|total|{hour.isoformat()}")
    lake.write_partition("alerts", "hour", ROLLOUT_HOUR, alert_rows(hour, [event], [[]], hour))


def fill_label_studio(tasks: list[dict]) -> list[dict]:
    """What Label Studio exports once a reviewer has answered the helpfulness question of each task."""
    return [{**task, "id": number, "annotations": [{"completed_by": {"id": 7, "email": "ls@example.com"},
                                                    "created_at": LABELLED_AT.isoformat(), "was_cancelled": False,
                                                    "result": [{"from_name": "helpfulness", "to_name": "output",
                                                                "type": "choices",
                                                                "value": {"choices": [demo_label(task["data"])]}}]}]}
            for number, task in enumerate(tasks, start=1)]


@pytest.fixture
def loop(demo_home, resources, instance, tmp_path):
    review = ReviewConfigResource()
    resources = {**resources, "review": review}
    with StandinServer(judge_persona) as server:
        judge = judge_resource(server)
        assert judge_hour(resources, instance, server).success
        lake = Lake(demo_home.warehouse)
        model = lake.read_partition("traces", "hour", ROLLOUT_HOUR).column("response_model")[0].as_py()
        open_incident(lake, model)
        queued = dg.materialize([review_queue], partition_key=ROLLOUT_HOUR, instance=instance, resources=resources)
        yield {"resources": {**resources, "judge": judge}, "queued": queued, "lake": lake, "home": demo_home,
               "instance": instance, "tmp": tmp_path}


def check_the_queue(loop) -> None:
    """Hard cases first, the control draw marked, the open incident's slice sampled, no duplicates."""
    meta = metadata(loop["queued"], "review_queue")
    queue = loop["lake"].read_partition("review_queue", "hour", ROLLOUT_HOUR).to_pylist()
    assert 0 < len(queue) == meta["dagster/row_count"] <= 20
    control = [row for row in queue if row["control"]]
    # Two places are drawn for control; one may be skipped as a near-duplicate of the other (the demo's questions
    # are templated, and which requests are drawn depends on the span ids, random in each generated demo day).
    assert 1 <= len(control) == meta["control"] <= 2
    assert all(0 < row["inclusion_probability"] < 1 for row in control)
    window = [row for row in queue if "alert_window" in row["reasons"]]
    assert window and all((row["route"], row["prompt_version"]) == ("/orders", "v7") for row in window)
    assert all(row["alert_keys"] == ["refusal_rate_up|total"] for row in window)
    hard = [row for row in queue if not row["control"]]
    assert [row["priority"] for row in hard] == sorted(row["priority"] for row in hard)
    assert len({row["dedup_key"] for row in queue}) == len(queue)


def test_the_loop_from_the_review_queue_to_a_divergence_alert(loop):
    check_the_queue(loop)
    resources, lake, home, instance = loop["resources"], loop["lake"], loop["home"], loop["instance"]
    queue = lake.read_partition("review_queue", "hour", ROLLOUT_HOUR).to_pylist()
    rubrics = load_rubrics()
    paths = export_queue(queue, loop["tmp"] / "export", "review", rubrics,
                         load_judge_settings(rubrics=rubrics).rubrics_for_route)

    # Three reviewers, three formats: the JSONL and CSV templates filled in, Label Studio's JSON export.
    def filled(row: dict, reviewer: str) -> dict:
        if row["rubric"] != "helpfulness":
            return row  # left empty: skipped, not quarantined
        return row | {"label": demo_label(_queued(queue, row["item_id"])),
                      "reviewer_id": reviewer, "timestamp": LABELLED_AT.isoformat()}

    templates = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    (home.labels / "jsonl-reviewer.jsonl").write_text("".join(json.dumps(filled(r, "ana")) + "\n" for r in templates))
    with paths["csv"].open(newline="") as handle:
        rows = [filled(r, "ben") for r in csv.DictReader(handle)]
    with (home.labels / "csv-reviewer.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tasks = json.loads(paths["label_studio"].read_text())
    (home.labels / "label-studio-export.json").write_text(json.dumps(fill_label_studio(
        [{**t, "data": t["data"] | {"failed_evaluators": _queued(queue, t["data"]["span_id"])["failed_evaluators"]}}
         for t in tasks])))
    assert "<Choices name=\"helpfulness\"" in paths["label_studio_config"].read_text()

    ingested = dg.materialize([label_ingestion], instance=instance, resources=resources)
    assert metadata(ingested, "label_quarantine")["dagster/row_count"] == 0
    labels = lake.read_partition("human_labels", "snapshot", "current").to_pandas()
    production = labels[labels.item_id.isin({row["span_id"] for row in queue})]
    assert production.groupby("reviewer_id").size().to_dict() == {"ana": len(queue), "ben": len(queue),
                                                                  "ls@example.com": len(queue)}
    assert metadata(ingested, "human_labels")["unlabelled_rows"] == 2 * (len(templates) - len(queue))

    def refresh_tick(threshold: int):
        review = ReviewConfigResource(review=str(_settings(loop["tmp"], threshold)))
        context = dg.build_sensor_context(instance=instance, resources={**resources, "review": review})
        return golden_refresh_sensor(context)

    failures = sum(demo_label(row) != "helpful" for row in queue)
    assert isinstance(refresh_tick(failures + 1), dg.SkipReason)
    assert isinstance(refresh_tick(failures), dg.RunRequest)

    refreshed = dg.materialize([golden_set], instance=instance, resources=resources)
    meta = metadata(refreshed, "golden_set")
    golden = latest_version(home.golden)
    assert meta["version"] == golden.version == 1 and meta["added"] + meta["rejected"] == failures
    assert all(check.passed for check in refreshed.get_asset_check_evaluations())
    item = golden.items[0]
    assert item["provenance"]["reviewers"] == ["ana", "ben", "ls@example.com"] and item["expected"]["failing_rubrics"]
    assert golden.manifest["counts"]["items"] == len(golden.items) and len(golden.manifest["added"]) == meta["added"]
    assert isinstance(refresh_tick(1), dg.SkipReason)  # everything is considered now
    again = dg.materialize([golden_set], instance=instance, resources=resources)
    assert metadata(again, "golden_set")["changed"] is False and latest_version(home.golden).version == 1

    # The regression split is for offline runs: the judge's calibration no longer sees those labels.
    regression_spans = {i["provenance"]["span_id"] for i in golden.items if i["split"] == "regression"}
    calibrated = dg.materialize([judge_calibration], instance=instance, resources=resources)
    assert metadata(calibrated, "judge_calibration")["reserved_for_regression"] == len(regression_spans) > 0
    judged = set(lake.read_partition("judge_calibration_scores", "snapshot", "current").column("span_id").to_pylist())
    assert not judged & regression_spans and judged & {row["span_id"] for row in queue}

    # Offline: the team's suite said v7 is helpful; v7's own answers on the golden items say otherwise.
    v7 = [row for row in queue if row["prompt_version"] == "v7"][0]
    model = v7["model"]
    regression = [i for i in golden.items if i["split"] == "regression"]
    (home.offline / "outputs").mkdir()
    (home.offline / "results").mkdir()
    (home.offline / "outputs" / "v7.jsonl").write_text("".join(json.dumps(
        {"item_id": i["id"], "model": model, "prompt_version": "v7", "output_text": i["production_output"]}) + "\n"
        for i in regression) + "{broken\n" + json.dumps({"item_id": "gold-unknown", "model": model,
                                                          "prompt_version": "v7", "output_text": "x"}) + "\n")
    (home.offline / "results" / "team-suite.jsonl").write_text("".join(json.dumps(
        {"item_id": f"case-{n}", "model": model, "prompt_version": "v7", "metric": "helpfulness", "passed": True})
        + "\n" for n in range(60)))
    scored = dg.materialize([offline_evaluation], instance=instance, resources=resources)
    quarantine = lake.read_partition("offline_quarantine", "snapshot", "current").column("reason").to_pylist()
    assert quarantine == ["malformed JSON", "gold-unknown is not in golden set v1"]
    offline = lake.read_partition("offline_scores", "snapshot", "current").to_pandas()
    helpful = offline[(offline.metric == "helpfulness")].groupby("source").passed.mean()
    assert helpful["results/team-suite.jsonl"] == 1.0
    assert regression and helpful["golden_v1"] < 0.5
    assert metadata(scored, "offline_scores")["golden_version"] == 1

    compared = dg.materialize([online_offline_divergence], partition_key=DAY, instance=instance, resources=resources)
    gaps = lake.read_partition("online_offline_divergence", "day", DAY).to_pandas()
    team = gaps[(gaps.metric == "helpfulness") & (gaps.offline_source == "results/team-suite.jsonl")].iloc[0]
    assert team.prompt_version == "v7" and team.gap_high < -0.1 and team.gap_low < team.gap < team.gap_high
    checks = {c.check_name: c.passed for c in compared.get_asset_check_evaluations()}
    assert checks == {"online_offline_divergence_offline_online_divergence": False}
    alerts = evaluate_daily_alerts(resources, instance, DAY)
    (alert,) = [a for a in alerts if a["rule"] == "offline_online_divergence"]
    assert alert["event"] == "opened"
    assert "metric=helpfulness, offline=results/team-suite.jsonl, prompt_version=v7" in alert["message"]
    assert "refresh the golden set" in alert["message"]
    # Every table the loop wrote is an asset of the definitions (none is a side effect out of the graph).
    assets = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"judge_calibration_scores", "offline_judge_scores", "divergence_scores"} <= set(lake.tables()) <= assets


def _queued(queue: list[dict], span_id: str) -> dict:
    return next(row for row in queue if row["span_id"] == span_id)


def _settings(folder, threshold: int):
    path = folder / f"review-{threshold}.yaml"
    path.write_text(yaml.safe_dump({"golden": {"refresh_threshold": threshold}}))
    return path


def test_a_corrupt_label_studio_export_is_quarantined_not_fatal(home, resources, instance):
    lake = Lake(home.warehouse)
    (home.labels / "broken.json").write_text('{"not": "a list"')
    (home.labels / "wrong-shape.json").write_text(json.dumps({"tasks": []}))
    with StandinServer(judge_persona) as server:
        result = dg.materialize([label_ingestion], instance=instance,
                                resources={**resources, "judge": judge_resource(server)})
    assert result.success
    reasons = lake.read_partition("label_quarantine", "snapshot", "current").column("reason").to_pylist()
    assert sorted(reasons) == ["malformed JSON", "not a Label Studio JSON export (expected a list of tasks)"]
