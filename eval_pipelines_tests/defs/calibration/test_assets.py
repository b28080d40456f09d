"""human_labels, judge_calibration, judge_canary and labels_sensor through Dagster, with the stand-in judge."""

import json
import shutil

import dagster as dg
import pyarrow as pa
import pytest

from eval_pipelines.defs.calibration.assets import judge_calibration, judge_canary, label_ingestion
from eval_pipelines.defs.calibration.sensors import labels_sensor
from eval_pipelines.defs.resources import LakeResource, MonitoringConfigResource
from eval_pipelines.lake import Lake
from eval_pipelines.schemas import SESSIONS
from eval_pipelines.standin.judge import drifted_judge_persona, judge_persona
from eval_pipelines.standin.server import StandinServer
from eval_pipelines_tests.defs.conftest import evaluate_daily_alerts
from eval_pipelines_tests.defs.ingestion.test_assets import metadata
from eval_pipelines_tests.defs.judging.test_assets import judge_resource
from eval_pipelines_tests.servers import Receiver

RUBRICS = ("faithfulness", "helpfulness", "instruction_following", "pairwise_preference", "conversation_resolution",
           "user_frustration", "agent_trajectory")


@pytest.fixture
def judge_server():
    with StandinServer(judge_persona) as server:
        yield server


def calibrate(resources, instance, server):
    return dg.materialize([label_ingestion, judge_calibration], instance=instance,
                          resources={**resources, "judge": judge_resource(server)})


def test_the_seed_set_calibrates_the_judge_and_history_accumulates(home, resources, instance, judge_server):
    first = calibrate(resources, instance, judge_server)
    meta = metadata(first, "judge_calibration")
    assert metadata(first, "human_labels")["ties"] > 0
    assert all(meta[f"n_{rubric}"] >= 20 and -1 <= meta[f"cohen_kappa_{rubric}"] <= 1 for rubric in RUBRICS)
    assert "Cohen's kappa" in meta["calibration"]
    # The stand-in prefers whichever answer comes first when both are equally good: the probe sees it.
    assert 0.4 < meta["position_consistency_pairwise_preference"] < 0.9
    assert meta["first_position_rate_pairwise_preference"] > 0.1
    sent = judge_server.requests_received
    second = calibrate(resources, instance, judge_server)
    assert judge_server.requests_received == sent  # every labelled item is already judged by this version
    assert metadata(second, "judge_calibration")["cache_hits"] == metadata(second, "judge_calibration")["judged_items"]
    history = Lake(home.warehouse).read_partitions("judge_calibration", "run", [
        path.parent.name.split("=", 1)[1] for path in (home.warehouse / "judge_calibration").glob("*/data.parquet")])
    assert history.num_rows == 2 * len(RUBRICS) and len(set(history.column("run_time").to_pylist())) == 2


def test_dropped_labels_join_the_seed_set_and_bad_rows_are_quarantined(home, resources, instance, judge_server):
    (home.labels / "team").mkdir()
    rows = [{"item_id": "seed-help-001", "rubric": "helpfulness", "label": "unhelpful", "reviewer_id": "new-rev",
             "timestamp": "2026-11-22T09:00:00Z"},
            {"item_id": "span-x", "rubric": "tone", "label": "ok", "reviewer_id": "r", "timestamp": "2026-11-22"}]
    (home.labels / "team" / "monday.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = calibrate(resources, instance, judge_server)
    assert metadata(result, "label_quarantine")["dagster/row_count"] == 1
    assert "unknown rubric" in metadata(result, "label_quarantine")["reasons"]
    labels = Lake(home.warehouse).read_partition("human_labels", "snapshot", "current").to_pandas()
    assert (labels.reviewer_id == "new-rev").sum() == 1 and metadata(result, "human_labels")["files"] == 2


def test_a_label_on_a_production_session_is_judged_on_its_transcript(home, resources, instance, judge_server):
    transcript = json.dumps([{"user": "Cancel order #77.", "assistant": "I can help with orders."},
                             {"user": "Cancel order #77.", "assistant": "I can help with orders."}])
    session = {"session_key": "s-9/2026-11-21T14:00:00.000000Z", "route": "/agent", "turns": 2,
               "transcript": transcript}
    Lake(home.warehouse).write_partition("sessions", "hour", "2026-11-21-14:00",
                                         pa.Table.from_pylist([session], schema=SESSIONS))
    (home.labels / "team").mkdir()
    label = {"item_id": session["session_key"], "rubric": "conversation_resolution", "label": "unresolved",
             "reviewer_id": "rev", "timestamp": "2026-11-22T09:00:00Z"}
    (home.labels / "team" / "sessions.jsonl").write_text(json.dumps(label) + "\n")
    calibrate(resources, instance, judge_server)
    scores = Lake(home.warehouse).read_partition("judge_calibration_scores", "snapshot", "current").to_pylist()
    (verdict,) = [row for row in scores if row["span_id"] == session["session_key"]]
    assert (verdict["rubric"], verdict["status"], verdict["label"]) == ("conversation_resolution", "ok",
                                                                        "partially_resolved")


def test_labels_sensor_requests_a_calibration_when_labels_or_the_judge_change(home, resources, instance,
                                                                              judge_server):
    def tick(cursor, server=judge_server):
        context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                          resources={**resources, "judge": judge_resource(server)})
        return labels_sensor(context)

    first = tick(None)
    assert len(first.run_requests) == 1
    quiet = tick(first.cursor)
    assert not quiet.run_requests and "unchanged" in quiet.skip_reason.skip_message
    (home.labels / "new.csv").write_text("item_id,rubric,label,reviewer_id,timestamp\n")
    assert tick(quiet.cursor).run_requests[0].tags["eval_pipelines/trigger"] == "labels"
    context = dg.build_sensor_context(instance=instance, cursor=tick(quiet.cursor).cursor, resources={
        **resources, "judge": judge_resource(judge_server, model_version="standin-judge-2027-01-01")})
    assert labels_sensor(context).run_requests[0].tags["eval_pipelines/trigger"] == "judge"


def canary_day(resources, instance, server, day):
    result = dg.materialize([judge_canary], partition_key=day, instance=instance,
                            resources={**resources, "judge": judge_resource(server)})
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation, metadata(result, "judge_canary")


def test_the_canary_alerts_when_the_judge_changes_under_an_unchanged_version(home, resources, instance,
                                                                             judge_server):
    baseline, meta = canary_day(resources, instance, judge_server, "2026-11-20")
    assert baseline.passed and meta["compared"] == 0  # the first day is the baseline
    same, meta = canary_day(resources, instance, judge_server, "2026-11-21")
    assert same.passed and meta["compared"] == 55 and meta["flips"] == 0
    with StandinServer(drifted_judge_persona(-0.5)) as drifted:
        changed, meta = canary_day(resources, instance, drifted, "2026-11-22")
    assert not changed.passed and changed.severity == dg.AssetCheckSeverity.ERROR
    assert meta["flips"] > 10 and meta["mean_score_shift"] < 0 and "flipped" in changed.description


def test_a_changed_canary_pages_through_the_alert_channels_once(home, resources, instance, judge_server, tmp_path):
    canary_day(resources, instance, judge_server, "2026-11-20")
    canary_day(resources, instance, judge_server, "2026-11-21")
    with StandinServer(drifted_judge_persona(-0.5)) as drifted:
        canary_day(resources, instance, drifted, "2026-11-22")
    hook = Receiver()
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps({"channels": {"hook": {"type": "webhook", "url": hook.url}}, "rules": [
        {"name": "judge_changed", "sli": "canary_changed", "condition": {"threshold": 0.5}, "min_samples": 1,
         "windows": {"short": "1d", "long": "1d"}, "severity": "page", "channels": ["hook"]}]}))
    monitoring = MonitoringConfigResource(alert_rules=str(rules), evidently_workspace=False)
    try:
        (alert,) = evaluate_daily_alerts({**resources, "monitoring": monitoring}, instance, "2026-11-22")
    finally:
        hook.close()
    assert alert["event"] == "opened" and alert["evaluated_at"].date().isoformat() == "2026-11-23"
    (body,) = hook.bodies
    assert body["rule"] == "judge_changed" and body["severity"] == "page" and body["event"] == "opened"


def test_label_files_in_the_shared_bucket_are_read_without_a_shared_volume(home, resources, instance, judge_server,
                                                                           s3_lake_url):
    shared_url = s3_lake_url.rsplit("/", 1)[0] + "/shared"
    lake = LakeResource(home=str(home.root), shared_url=shared_url)
    labels = lake.layout.shared("labels")
    row = {"item_id": "seed-help-001", "rubric": "helpfulness", "label": "unhelpful", "reviewer_id": "bucket-rev",
           "timestamp": "2026-11-22T09:00:00Z"}
    labels.target("team/monday.jsonl").write_text(json.dumps(row) + "\n")
    labels.publish(labels.target("team/monday.jsonl"))
    shutil.rmtree(home.root / "shared-mirror")  # another machine: nothing local but the bucket

    result = dg.materialize([label_ingestion], instance=instance,
                            resources={**resources, "lake": lake, "judge": judge_resource(judge_server)})
    assert metadata(result, "human_labels")["files"] == 2
    stored = Lake(home.warehouse).read_partition("human_labels", "snapshot", "current").to_pandas()
    assert (stored.reviewer_id == "bucket-rev").sum() == 1
    assert not list(home.labels.rglob("*.jsonl")), "nothing was read from <home>/labels"
