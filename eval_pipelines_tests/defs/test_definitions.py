import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from eval_pipelines.definitions import build_defs, defs
from eval_pipelines.defs.loading import load_stages, stage_names
from eval_pipelines.defs.partitions import hourly_partitions
from eval_pipelines.home import Home
from eval_pipelines.schemas import TABLES

PROJECT = Path(__file__).resolve().parents[2]


def test_definitions_load_with_every_stage_named_as_dagster_users_expect():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    groups = {key: graph.get(dg.AssetKey(key)).group_name for key in keys}
    assert groups == {"traces": "ingestion", "trace_quarantine": "ingestion", "feedback_events": "ingestion",
                      "tool_spans": "ingestion",
                      "trace_validation": "validation", "programmatic_scores": "scoring",
                      "user_feedback": "scoring", "feedback_quarantine": "scoring",
                      "judge_sample": "judging", "judge_sampling_rates": "judging", "judge_scores": "judging",
                      "sessions": "conversations", "agent_runs": "conversations",
                      "conversation_judge_scores": "conversations",
                      "human_labels": "calibration",
                      "label_quarantine": "calibration", "judge_calibration": "calibration",
                      "judge_calibration_scores": "calibration", "judge_canary": "calibration",
                      "canary_scores": "calibration", "quality_slis": "monitoring", "alerts": "monitoring",
                      "daily_alerts": "monitoring", "drift_report": "monitoring", "drift_scores": "monitoring",
                      "review_queue": "review", "golden_set": "review",
                      "offline_scores": "offline", "offline_quarantine": "offline", "offline_judge_scores": "offline",
                      "online_offline_divergence": "offline", "divergence_scores": "offline"}
    checks = {key.name for key in graph.asset_check_keys}
    assert {"traces_span_id_unique", "traces_rows_parsed", "traces_start_time_in_partition",
            "judge_scores_error_rate", "judge_scores_within_budget", "judge_canary_unchanged"} <= checks
    assert defs.resolve_sensor_def("labels_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("review_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    assert {"quality_slis_refusal_rate_up", "quality_slis_json_validity_down", "drift_report_traffic_drift"} <= checks
    assert "quality_slis_traffic_drift" not in checks  # daily rules are checked on the drift report
    assert {s.name for s in defs.schedules} == {"calibration_schedule", "canary_schedule", "drift_schedule",
                                                "divergence_schedule"}
    assert {"golden_set_splits_disjoint", "online_offline_divergence_offline_online_divergence"} <= checks
    assert {s.name for s in defs.sensors} == {"landing_sensor", "labels_sensor", "review_sensor",
                                              "golden_refresh_sensor", "offline_sensor", "dead_run_sensor",
                                              "conversations_sensor"}
    assert graph.get(dg.AssetKey("judge_scores")).pools == {"judge_endpoint"}
    assert graph.get(dg.AssetKey("alerts")).pools == {"alerting"}  # one alerts step at a time: one state
    assert defs.resolve_sensor_def("landing_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_job_def("hourly_evaluation_job").partitions_def == hourly_partitions


def test_each_definition_belongs_to_one_stage_folder_which_names_its_group():
    assert stage_names() == ["calibration", "conversations", "ingestion", "judging", "monitoring", "offline",
                             "operations", "review", "scoring", "validation"]
    everything = load_stages()
    seen: dict[int, str] = {}
    for stage in stage_names():
        loaded = load_stages([stage])
        for item in [*loaded.assets, *loaded.checks, *loaded.sensors, *loaded.schedules, *loaded.jobs]:
            assert seen.setdefault(id(item), stage) == stage, f"{item} is found in {seen[id(item)]} and {stage}"
        assert {spec.group_name for asset in loaded.assets for spec in asset.specs} <= {stage}
    assert len(seen) == sum(map(len, (everything.assets, everything.checks, everything.sensors, everything.schedules,
                                      everything.jobs)))


def test_every_lake_table_is_an_asset_whose_columns_are_the_registrys():
    graph = defs.resolve_asset_graph()
    columns = {key.to_user_string(): graph.get(key).metadata.get("dagster/column_schema")
               for key in graph.get_all_asset_keys()}
    tables = {name for name, schema in columns.items() if schema is not None}
    assert tables == set(TABLES)
    for name in tables:
        assert [column.name for column in columns[name].columns] == TABLES[name].schema.names, name
    partitioning = {name: graph.get(dg.AssetKey(name)).partitions_def for name in tables}
    assert {name for name, partitions in partitioning.items() if partitions == hourly_partitions} == {
        name for name, table in TABLES.items() if table.partitioned_by == "hour"}


def test_any_set_of_stages_loads_with_jobs_limited_to_its_tables(tmp_path):
    for stages in [[stage] for stage in stage_names()] + [["ingestion", "validation", "scoring", "monitoring"]]:
        partial = build_defs(Home(tmp_path), stages=stages)
        partial.get_repository_def().load_all_definitions()
        groups = {spec.group_name for asset in partial.assets for spec in asset.specs}
        assert groups <= set(stages)
    cheap = build_defs(Home(tmp_path), stages=["ingestion", "validation", "scoring", "monitoring"])
    hourly = cheap.resolve_job_def("hourly_evaluation_job").asset_layer.executable_asset_keys
    assert dg.AssetKey("traces") in hourly and dg.AssetKey("alerts") in hourly
    assert not any(key.path[-1].startswith("judge") for key in hourly)
    assert [job.name for job in cheap.jobs] == ["hourly_evaluation_job", "drift_job"]


def test_the_drift_schedule_reports_the_day_that_ended():
    from datetime import UTC, datetime

    from eval_pipelines.defs.monitoring.schedules import drift_schedule

    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 22, 1, 30, tzinfo=UTC))
    assert drift_schedule(context).partition_key == "2026-11-21"


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "EVAL_PIPELINES_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                             "-w", "workspace.yaml"], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout
