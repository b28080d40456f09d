"""A team's own evaluator through the hourly pipeline: it scores every request of the demo hour, its pass rate is
an SLI of every slice, and an alert rule on that SLI opens an incident."""

import dagster as dg
import yaml

from eval_pipelines.defs.ingestion.assets import trace_ingestion
from eval_pipelines.defs.monitoring.assets import alerts, quality_slis
from eval_pipelines.defs.resources import MonitoringConfigResource, ScoringConfigResource
from eval_pipelines.defs.scoring.assets import programmatic_scores
from eval_pipelines.lake import Lake
from eval_pipelines_tests.defs.judging.test_assets import ROLLOUT_HOUR

SLI = "evaluator_pass_rate_mentions_a_number"


def test_a_team_evaluator_runs_on_every_request_feeds_an_sli_and_pages(demo_home, resources, instance, tmp_path):
    evaluators = tmp_path / "evaluators.yaml"
    evaluators.write_text(yaml.safe_dump({"defaults": {"refusal": {}}, "custom": {"mentions_a_number": {
        "function": "eval_pipelines_tests.evaluators.team_checks:mentions_a_number", "per_row": True}}}))
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"channels": {"log": {"type": "log"}}, "rules": [
        {"name": "answers_without_numbers", "sli": SLI, "direction": "down", "condition": {"threshold": 0.999},
         "windows": {"short": "10m", "long": "20m"}, "min_samples": 5, "confidence": 0, "channels": ["log"]}]}))
    resources = {**resources, "scoring": ScoringConfigResource(evaluators=str(evaluators), text_evals_report=False),
                 "monitoring": MonitoringConfigResource(alert_rules=str(rules), evidently_workspace=False)}
    result = dg.materialize([trace_ingestion, programmatic_scores, quality_slis, alerts], partition_key=ROLLOUT_HOUR,
                            resources=resources, instance=instance,
                            selection=["traces", "trace_quarantine", "feedback_events", "tool_spans",
                                       "programmatic_scores", "quality_slis", "alerts"])
    assert result.success
    lake = Lake(demo_home.warehouse)
    traces = lake.read_partition("traces", "hour", ROLLOUT_HOUR)
    scores = lake.read_partition("programmatic_scores", "hour", ROLLOUT_HOUR).to_pandas()
    assert set(scores[scores.evaluator == "mentions_a_number"].span_id) == set(traces.column("span_id").to_pylist())
    slis = lake.read_partition("quality_slis", "hour", ROLLOUT_HOUR).to_pandas().query("sli == @SLI")
    assert {"total", "route=/orders"} <= set(slis.slice) and slis.value.between(0, 1).all()
    opened = [row for row in lake.read_partition("alerts", "hour", ROLLOUT_HOUR).to_pylist()
              if row["event"] == "opened"]
    assert [row["rule"] for row in opened] == ["answers_without_numbers"]
