"""The Component in a team's own project, laid out as ``create-dagster`` lays one out: found by ``dg scaffold``,
accepted by ``dg check defs``, loaded by ``load_from_defs_folder`` under the team's key prefix, and an hour of
demo traffic materialized through it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from eval_pipelines.defs.local_runs import LocalPipeline
from eval_pipelines.lake import Lake
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines_tests.conftest import DEMO_DAY

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["dagster", "eval_pipelines"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{name}"
"""
DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def dg_cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run([str(Path(sys.executable).parent / "dg"), *args], cwd=project, env=env, text=True,
                          capture_output=True, timeout=300)


def empty_project(project: Path, name: str) -> Path:
    """A project as ``create-dagster`` lays one out, with nothing in its defs folder yet; its package folder."""
    package = project / "src" / name
    (package / "defs").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(name=name))
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    return package


@pytest.fixture(scope="module")
def team_project(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path) -> Path:
    """A team's project with the Component scaffolded into it, its lake in a home of its own."""
    project = tmp_path_factory.mktemp("team")
    package = empty_project(project, "team_project")
    scaffolded = dg_cli(project, "scaffold", "defs", "eval_pipelines.OnlineEvaluationComponent", "online_eval")
    assert scaffolded.returncode == 0, scaffolded.stderr
    defs_yaml = package / "defs" / "online_eval" / "defs.yaml"
    component = yaml.safe_load(defs_yaml.read_text())
    assert component == {"type": "eval_pipelines.OnlineEvaluationComponent", "attributes": {}}
    component["attributes"] = {"home": str(project / "eval-home"), "key_prefix": "online_eval"}
    defs_yaml.write_text(yaml.safe_dump(component))
    shutil.copytree(demo_landing, project / "eval-home" / "landing")
    return project


def test_dg_check_defs_accepts_the_project(team_project):
    checked = dg_cli(team_project, "check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout


def test_an_hour_is_materialized_under_the_teams_key_prefix(team_project, monkeypatch):
    monkeypatch.syspath_prepend(str(team_project / "src"))
    defs = dg.load_from_defs_folder(path_within_project=team_project / "src" / "team_project")
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"online_eval/traces", "online_eval/quality_slis", "online_eval/alerts"} <= keys
    assert all(key.startswith("online_eval/") for key in keys)
    assert {graph.get(key).group_name for key in graph.get_all_asset_keys()} >= {
        "online_eval_ingestion", "online_eval_monitoring"}
    hour = f"{DEMO_DAY.isoformat()}-14:00"
    with standin_judge(), dg.instance_for_test() as instance:
        assert LocalPipeline(instance, defs).execute_hours(hour, hour).success
    lake = Lake(str(team_project / "eval-home" / "warehouse"))
    assert lake.read_partition("quality_slis", "hour", hour).num_rows > 0, "lake tables keep their own names"


def test_a_team_without_a_judge_loads_only_the_stages_it_names(tmp_path, monkeypatch):
    package = empty_project(tmp_path, "judgeless_project")
    (package / "defs" / "online_eval").mkdir()
    (package / "defs" / "online_eval" / "defs.yaml").write_text(yaml.safe_dump({
        "type": "eval_pipelines.OnlineEvaluationComponent",
        "attributes": {"home": str(tmp_path / "eval-home"), "judge_structured_output": "json_object",
                       "stages": ["ingestion", "validation", "scoring", "monitoring"]}}))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    defs = dg.load_from_defs_folder(path_within_project=package)
    groups = {spec.group_name for asset in defs.assets for spec in asset.specs}
    assert groups == {"ingestion", "validation", "scoring", "monitoring"}
    hourly = defs.resolve_job_def("hourly_evaluation_job").asset_layer.executable_asset_keys
    assert {dg.AssetKey("traces"), dg.AssetKey("alerts")} <= hourly
    assert {sensor.name for sensor in defs.sensors} == {"landing_sensor"}
    assert defs.resources["judge"].structured_output == "json_object"


RULES = """
channels:
  log: {type: log}
rules:
  - name: answers_too_short
    sli: evaluator_pass_rate_mentions_a_number
    slice: {dimension: total}
    condition: {threshold: 0.5}
    direction: down
    windows: {short: 5m, long: 15m}
    severity: ticket
    channels: [log]
"""
LIST_CHECKS = """
import sys
from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(sys.argv[1]))
checks = defs.resolve_asset_graph().asset_check_keys
print(sorted(key.name for key in checks if key.asset_key.path[-1] == "quality_slis"))
print(sorted(rule.name for rule in defs.resources["monitoring"].alert_config().rules))
"""


def test_the_teams_alert_rules_are_the_checks_declared_and_the_rules_evaluated(tmp_path):
    package = empty_project(tmp_path, "ruled_project")
    (tmp_path / "rules.yaml").write_text(RULES)
    (package / "defs" / "online_eval").mkdir()
    (package / "defs" / "online_eval" / "defs.yaml").write_text(yaml.safe_dump({
        "type": "eval_pipelines.OnlineEvaluationComponent",
        "attributes": {"home": str(tmp_path / "eval-home"), "config": {"alert_rules": str(tmp_path / "rules.yaml")}}}))
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    environment.pop("EVAL_PIPELINES_ALERT_RULES", None)
    listed = subprocess.run([sys.executable, "-c", LIST_CHECKS, str(package)], env=environment, text=True,
                            capture_output=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert listed.stdout.split("\n")[:2] == ["['quality_slis_answers_too_short']", "['answers_too_short']"]
