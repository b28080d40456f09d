"""A backfill runs a day of hours per run: one run over three hours writes what three hourly runs write,
with each hour's own metadata and partition; with the lake on object storage it writes the same lake."""

import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

from eval_pipelines.definitions import build_defs
from eval_pipelines.defs.local_runs import LocalPipeline
from eval_pipelines.defs.partitions import hourly_partitions
from eval_pipelines.defs.resources import MonitoringConfigResource, ScoringConfigResource
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines_tests.conftest import DEMO_DAY, lake_in_new_bucket
from eval_pipelines_tests.servers import S3Server

HOURS = [f"{DEMO_DAY.isoformat()}-{hour}:00" for hour in (13, 14, 15)]
# Columns that depend on when or how fast the run went, not on what it computed.
VOLATILE = {"latency_ms", "judged_at", "landed_at", "ingested_at", "decided_at"}
VOLATILE_SLIS = {"pipeline_lag_p95_seconds"}
TABLES = ["traces", "trace_quarantine", "trace_validation", "programmatic_scores", "user_feedback", "judge_sample",
          "judge_scores", "quality_slis"]


def run_home(root: Path, landing: Path, by_hour: bool,
             lake_url: str = "") -> tuple[Lake, dg.DagsterInstance, list[str]]:
    home = Home(root, lake_url).ensure()
    shutil.copytree(landing, home.landing, dirs_exist_ok=True)
    defs = build_defs(home, scoring=ScoringConfigResource(text_evals_report=False),
                      monitoring=MonitoringConfigResource(evidently_workspace=False))
    instance = dg.DagsterInstance.ephemeral()
    pipeline = LocalPipeline(instance, defs)
    runs = ([pipeline.execute_hours(key, key) for key in HOURS] if by_hour
            else [pipeline.execute_hours(HOURS[0], HOURS[-1])])
    assert all(run.success for run in runs)
    return Lake(home.lake), instance, [run.run_id for run in runs]


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path):
    root = tmp_path_factory.mktemp("backfill")
    with standin_judge():
        return run_home(root / "range", demo_landing, by_hour=False), run_home(root / "hours", demo_landing, True)


@pytest.fixture(scope="module")
def object_store_home(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path, s3_server: S3Server):
    """The range run again, with the lake in a bucket of the local S3 server (EVAL_PIPELINES_LAKE=s3://...)."""
    with pytest.MonkeyPatch.context() as env, standin_judge():
        yield run_home(tmp_path_factory.mktemp("object-store"), demo_landing, False, lake_in_new_bucket(s3_server, env))


def comparable(lake: Lake, table: str, key: str) -> list[dict]:
    data = lake.read_partition(table, "hour", key)
    assert data is not None, f"{table} {key} missing"
    return comparable_rows(data, VOLATILE)


def comparable_rows(data: pa.Table, volatile: set[str]) -> list[dict]:
    """Sorted rows without the ``volatile`` columns and SLIs, floats rounded past summation-order noise."""
    data = data.drop_columns([name for name in data.column_names if name in volatile])
    rows = [{name: round(value, 9) if isinstance(value, float) else value for name, value in row.items()}
            for row in data.to_pylist() if row.get("sli") not in VOLATILE_SLIS]
    return sorted(rows, key=repr)


def test_every_hourly_asset_backfills_a_day_per_run(home):
    graph = build_defs(home).resolve_asset_graph()
    hourly = [node for node in graph.asset_nodes if node.partitions_def == hourly_partitions]
    assert len(hourly) == 17
    assert {node.key.to_user_string(): node.backfill_policy for node in hourly} == {
        node.key.to_user_string(): dg.BackfillPolicy.multi_run(max_partitions_per_run=24) for node in hourly}


def test_one_run_over_three_hours_writes_what_three_hourly_runs_write(homes):
    (range_lake, _, range_runs), (hours_lake, _, hour_runs) = homes
    assert len(range_runs) == 1 and len(hour_runs) == 3
    for table in TABLES:
        for key in HOURS:
            assert comparable(range_lake, table, key) == comparable(hours_lake, table, key), (table, key)


def test_each_hour_of_the_range_run_carries_its_own_metadata(homes):
    (lake, instance, (run_id,)), _ = homes
    events = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    by_asset: dict[str, dict[str, dict]] = {}
    for record in events:
        materialization = record.event_log_entry.asset_materialization
        by_asset.setdefault(materialization.asset_key.to_user_string(), {})[materialization.partition] = {
            name: getattr(value, "value", value) for name, value in materialization.metadata.items()}
    for table in TABLES:
        assert sorted(by_asset[table]) == HOURS, table
    rows = {key: by_asset["traces"][key]["dagster/row_count"] for key in HOURS}
    assert rows == {key: lake.read_partition("traces", "hour", key).num_rows for key in HOURS}
    assert len(set(rows.values())) > 1, "the demo hours differ in size, so the metadata must too"
    assert all(by_asset["traces"][key]["files_read"] >= 1 for key in HOURS)
    assert {by_asset["judge_scores"][key]["path"] for key in HOURS} == {
        str(lake.partition_path("judge_scores", "hour", key)) for key in HOURS}


def test_the_range_runs_checks_name_the_hours_they_checked(homes):
    (_, instance, (run_id,)), _ = homes
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = {r.event_log_entry.dagster_event.event_specific_data.check_name:
                   r.event_log_entry.dagster_event.event_specific_data for r in records}
    parsed = evaluations["traces_rows_parsed"]
    assert parsed.passed and parsed.metadata["hours_checked"].value == 3
    assert parsed.metadata["failed_hours"].value == "none"
    assert "judge_scores_error_rate" in evaluations


def test_with_the_lake_on_object_storage_the_run_writes_the_same_lake(homes, object_store_home):
    (local_lake, _, _), _ = homes
    s3_lake, _, _ = object_store_home
    assert not s3_lake.is_local and s3_lake.tables() == local_lake.tables()
    for table in TABLES:
        for key in HOURS:
            assert comparable(s3_lake, table, key) == comparable(local_lake, table, key), (table, key)
