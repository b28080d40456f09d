"""A quiet day, then the demo day, through the real pipeline: the packaged alert rules catch each staged
incident once, name the slice that explains it, and stay silent on the quiet day."""

import json
import os
from datetime import timedelta
from unittest.mock import patch

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from eval_pipelines.config import packaged_default
from eval_pipelines.definitions import build_defs
from eval_pipelines.defs.local_runs import LocalPipeline, wait_for_quiet_landing
from eval_pipelines.defs.resources import MonitoringConfigResource, ScoringConfigResource
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines_tests.conftest import DEMO_DAY

QUIET_DAY = DEMO_DAY - timedelta(days=1)
REQUESTS_PER_DAY = 6000  # enough for every rule's min_samples in the busy hours
QUIET_HOURS = range(15, 24)  # the demo day's baselines (6 h before its first windows of 3 h), nine hours to stay silent


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from eval_pipelines.demo.traffic import write_demo_traffic

    home = Home(tmp_path_factory.mktemp("detection") / "home").ensure()
    write_demo_traffic(home.landing, QUIET_DAY, REQUESTS_PER_DAY, seed=5, bad_lines=0, incidents=False,
                       hours=QUIET_HOURS)
    write_demo_traffic(home.landing, DEMO_DAY, REQUESTS_PER_DAY, seed=7, bad_lines=0)
    wait_for_quiet_landing(home.landing)
    # A twentieth of the packaged judge sample (less for sessions and agent runs): the judge costs most of each
    # hour's build, and no staged incident depends on it.
    judge = yaml.safe_load(packaged_default("judge.yaml").read_text())
    judge["sampling"]["per_hour"] = 6
    judge["conversations"] = {"sessions": {"per_hour": 3}, "agent_runs": {"per_hour": 3}}
    (home.root / "judge.yaml").write_text(yaml.safe_dump(judge))
    with (standin_judge(), dg.instance_for_test() as instance,
          patch.dict(os.environ, {"EVAL_PIPELINES_JUDGE": str(home.root / "judge.yaml")})):
        # The hourly Evidently report and workspace push are not what this test is about, and cost 5 s an hour.
        defs = build_defs(home, scoring=ScoringConfigResource(text_evals_report=False),
                          monitoring=MonitoringConfigResource(evidently_workspace=False))
        pipeline = LocalPipeline(instance, defs)
        runs = [pipeline.execute_hours(f"{QUIET_DAY.isoformat()}-{QUIET_HOURS[0]}:00",
                                       f"{QUIET_DAY.isoformat()}-{QUIET_HOURS[-1]}:00"),
                pipeline.execute_hours(f"{DEMO_DAY.isoformat()}-00:00", f"{DEMO_DAY.isoformat()}-23:00")]
    assert [len(run.partition_keys) for run in runs] == [len(QUIET_HOURS), 24] and all(run.success for run in runs)
    lake = Lake(home.warehouse)
    assert "alerts" in lake.tables()
    alerts = duckdb.sql(f"SELECT * FROM {lake.scan('alerts')} ORDER BY evaluated_at").df()
    return alerts.assign(details=alerts.details.map(json.loads))


# The rules watching each SLI share its incidents: whichever breaches first opens it.
REFUSALS, JSON = ("refusal_rate_spike", "refusal_rate_up"), ("json_validity_drop", "json_validity_down")


def opened(alerts: pd.DataFrame, *rules: str) -> pd.DataFrame:
    return alerts[(alerts.event == "opened") & alerts.rule.isin(rules)]


def test_nothing_fires_on_the_quiet_day(alerts):
    assert not (alerts.evaluated_at.dt.date == QUIET_DAY).any(), alerts[["evaluated_at", "rule", "message"]]


def test_each_staged_incident_opens_once_and_every_alert_points_at_one_of_them(alerts):
    incidents = alerts[alerts.event == "opened"]
    assert {"traffic_mix_shift", "agent_invalid_tool_calls_up", "agent_loops_up"} <= set(incidents.rule)
    assert set(REFUSALS) & set(incidents.rule) and set(JSON) & set(incidents.rule)
    assert not incidents.key.duplicated().any()
    staged = ("route=/classify", "prompt_version=v7", "route=/chat", "route=/agent", "prompt_version=agent-v2")
    explained = incidents.details.map(lambda d: d["explained_by"] or "") + " " + incidents.slice
    assert explained.map(lambda text: any(cause in text for cause in staged)).all(), incidents.message.tolist()


def test_the_judge_sees_the_prompt_rollout_as_less_helpful_answers_on_orders_if_it_pages_at_all(alerts):
    for _, alert in opened(alerts, "judged_helpfulness_down").iterrows():
        assert "route=/orders, prompt_version=v7" in alert.details["explained_by"], alert.message


def test_the_malformed_json_burst_is_caught_at_nine_explained_by_the_classifier_and_resolves(alerts):
    burst = opened(alerts, *JSON).iloc[0]
    assert burst.evaluated_at.hour == 9
    assert "route=/classify" in burst.details["explained_by"] + burst.slice
    resolved = alerts[(alerts.event == "resolved") & alerts.rule.isin(JSON)]
    assert len(resolved) == 1 and resolved.evaluated_at.iloc[0].hour in (10, 11)


def test_the_refusal_spike_is_blamed_on_prompt_v7_on_orders(alerts):
    spike = opened(alerts, *REFUSALS).iloc[0]
    assert spike.evaluated_at.hour in (14, 15)
    assert "/orders" in spike.details["explained_by"] and "v7" in spike.details["explained_by"]
    assert "since prompt_version v7 appeared at 14:0" in spike.message


def test_the_topic_shift_shows_as_more_chat_traffic(alerts):
    shifts = opened(alerts, "traffic_mix_shift")
    chat = shifts[shifts.slice == "route=/chat"]
    assert len(chat) == 1 and chat.evaluated_at.iloc[0].hour in (18, 19, 20)
    # The looping agent prompt doubles its runs' steps and its users' requests from 06:00: the mix shifts towards
    # /agent too.
    assert set(shifts.slice) <= {"route=/chat", "route=/agent"}


def test_the_tool_schema_change_pages_at_eleven_on_the_agent_route_and_resolves_after_the_rollback(alerts):
    page = opened(alerts, "agent_invalid_tool_calls_up")
    assert len(page) == 1 and page.slice.iloc[0] == "route=/agent" and page.evaluated_at.iloc[0].hour == 11
    assert page.severity.iloc[0] == "page"
    resolved = alerts[(alerts.event == "resolved") & (alerts.rule == "agent_invalid_tool_calls_up")]
    assert len(resolved) == 1 and resolved.evaluated_at.iloc[0].hour in (13, 14, 15)


def test_the_looping_prompt_pages_at_six_on_its_prompt_version_and_resolves_after_the_rollback(alerts):
    page = opened(alerts, "agent_loops_up")
    assert len(page) == 1 and page.slice.iloc[0] == "prompt_version=agent-v2"
    assert page.evaluated_at.iloc[0].hour == 6
    resolved = alerts[(alerts.event == "resolved") & (alerts.rule == "agent_loops_up")]
    assert len(resolved) == 1 and resolved.evaluated_at.iloc[0].hour in (9, 10, 11)
