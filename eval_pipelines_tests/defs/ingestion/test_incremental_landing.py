"""Hours that arrive in pieces end where one batch ends: the demo hours landed file by file (in order, out of
order, one file landed twice, one late by an hour), each piece run as the landing and conversations sensors
ask, give the same traces, validation, scores, judge sample, sessions, agent runs, SLIs and alerts as all files
landed at once and run in one go."""

import os
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from eval_pipelines.definitions import build_defs
from eval_pipelines.defs.local_runs import LocalPipeline
from eval_pipelines.defs.partitions import hours_of
from eval_pipelines.defs.resources import MonitoringConfigResource, ScoringConfigResource
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines.landing import QUIET_SECONDS
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines_tests.conftest import DEMO_DAY
from eval_pipelines_tests.defs.test_backfill import VOLATILE, comparable_rows

HOURS = [f"{DEMO_DAY.isoformat()}-{hour}:00" for hour in (13, 14, 15)]
TABLES = ["traces", "trace_quarantine", "tool_spans", "trace_validation", "programmatic_scores", "user_feedback",
          "judge_sample", "judge_scores", "sessions", "agent_runs", "quality_slis"]
# When and by which run an alert was found, not what it says.
VOLATILE_ALERTS = {"event_time", "hour_start", "deliveries"}


RULES = {"channels": {"log": {"type": "log"}}, "rules": [
    # Scaled to the small demo day (a few requests a minute): /orders refuses from 14:00.
    {"name": "route_refusals", "sli": "refusal_rate", "slice": {"dimension": "route"},
     "condition": {"threshold": 0.3}, "direction": "up", "windows": {"short": "20m", "long": "40m"},
     "min_samples": 3, "confidence": 0, "keep_firing": "10m", "severity": "page", "channels": ["log"]},
    {"name": "refusals_up", "sli": "refusal_rate", "slice": {"dimension": "total"},
     "condition": {"relative_change": 1.0, "baseline": "2h"}, "direction": "up",
     "windows": {"short": "30m", "long": "1h"}, "min_samples": 5, "severity": "ticket", "channels": ["log"]}]}


def otel(landing: Path, hour: int) -> list[Path]:
    return sorted((landing / "otel" / DEMO_DAY.isoformat()).glob(f"*-{hour:02d}.jsonl"))


def arrivals(landing: Path) -> list[list[tuple[Path, str]]]:
    """The files of the hours (and where each lands) in the order they land: hour 13 one service at a time,
    then 15 before 14, the feedback, one file of 13 landed again (in place, and under a second name), and
    last the file of 14 that was late by an hour."""
    def at_home(paths: list[Path]) -> list[tuple[Path, str]]:
        return [(path, str(path.relative_to(landing))) for path in paths]

    thirteen, fourteen = otel(landing, 13), otel(landing, 14)
    return [*(at_home([path]) for path in thirteen), at_home(otel(landing, 15)), at_home(fourteen[:-1]),
            at_home(sorted((landing / "feedback").rglob("*.jsonl"))),
            [*at_home(thirteen[:1]), (thirteen[0], f"again/{thirteen[0].name}")], at_home(fourteen[-1:])]


def pipeline_for(home: Home, rules: Path) -> LocalPipeline:
    defs = build_defs(home, scoring=ScoringConfigResource(text_evals_report=False),
                      monitoring=MonitoringConfigResource(alert_rules=str(rules), evidently_workspace=False))
    return LocalPipeline(dg.DagsterInstance.ephemeral(), defs)


def land(files: list[tuple[Path, str]], home: Home) -> None:
    settled = time.time() - QUIET_SECONDS - 1
    for path, name in files:
        target = home.landing / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        os.utime(target, (settled, settled))


def run_increments(root: Path, source: Path, rules: Path) -> tuple[Lake, int]:
    """Each arrival, then the runs the landing sensor requests, then those the conversations sensor requests for
    the sessions late turns moved (both restricted to the demo hours)."""
    home, cursor, runs = Home(root).ensure(), None, 0
    pipeline = pipeline_for(home, rules)
    conversations = pipeline.conversations_sensor_tick().cursor
    for files in arrivals(source):
        land(files, home)
        result = pipeline.landing_sensor_tick(cursor)
        cursor = result.cursor
        runs += run_requested(pipeline, result, "hourly_evaluation_job")
        moved = pipeline.conversations_sensor_tick(conversations)
        conversations = moved.cursor
        runs += run_requested(pipeline, moved, "conversations_job")
    return Lake(home.lake), runs


def run_requested(pipeline: LocalPipeline, result: dg.SensorResult, job_name: str) -> int:
    keys = sorted({key for request in result.run_requests or [] for key in hours_of(request)} & set(HOURS))
    if keys:
        assert pipeline.execute_hours(keys[0], keys[-1], job_name).success
    return 1 if keys else 0


def run_batch(root: Path, source: Path, rules: Path, rates: Lake) -> Lake:
    """All files at once, one run over the hours, with the sampling rates the pieces decided (a rate is
    decided from the volume seen when a stratum first appears, which differs between the two)."""
    home = Home(root).ensure()
    land([file for files in arrivals(source) for file in files], home)
    lake = Lake(home.lake)
    for key in HOURS:
        decided = rates.read_partition("judge_sampling_rates", "hour", key)
        if decided is not None:
            lake.write_partition("judge_sampling_rates", "hour", key, decided)
    assert pipeline_for(home, rules).execute_hours(HOURS[0], HOURS[-1]).success
    return lake


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path) -> tuple[Lake, Lake, int]:
    root = tmp_path_factory.mktemp("increments")
    rules = root / "rules.yaml"
    rules.write_text(yaml.safe_dump(RULES))
    with standin_judge():
        pieces, runs = run_increments(root / "pieces", demo_landing, rules)
        return pieces, run_batch(root / "batch", demo_landing, rules, pieces), runs


def rows(lake: Lake, table: str, volatile: set[str]) -> list[dict]:
    data = lake.read_partitions(table, "hour", HOURS)
    assert data is not None, f"{table} missing"
    return comparable_rows(data, volatile)


def test_the_hours_were_built_in_many_runs(lakes):
    _, _, runs = lakes
    assert runs >= 7


@pytest.mark.parametrize("table", TABLES)
def test_pieces_and_one_batch_write_the_same_rows(lakes, table):
    pieces, batch, _ = lakes
    assert rows(pieces, table, VOLATILE) == rows(batch, table, VOLATILE)


def test_pieces_and_one_batch_raise_the_same_alerts(lakes):
    pieces, batch, _ = lakes
    found = rows(batch, "alerts", VOLATILE | VOLATILE_ALERTS)
    assert found, "the demo hours raise alerts"
    assert rows(pieces, "alerts", VOLATILE | VOLATILE_ALERTS) == found
