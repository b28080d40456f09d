"""judge_sample and judge_scores on a demo hour, through dg.materialize and the stand-in judge over HTTP."""

import dagster as dg
import pytest
import yaml

from eval_pipelines.defs.ingestion.assets import trace_ingestion
from eval_pipelines.defs.judging.assets import judge_sample, judge_scores
from eval_pipelines.defs.resources import JudgeResource
from eval_pipelines.defs.scoring.assets import feedback_linking, programmatic_scores
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.rules import load_alert_config
from eval_pipelines.standin.judge import judge_persona
from eval_pipelines.standin.server import Faults, StandinServer
from eval_pipelines_tests.conftest import DEMO_DAY
from eval_pipelines_tests.defs.ingestion.test_assets import metadata
from eval_pipelines_tests.judge.conftest import JUDGE_MODEL

ROLLOUT_HOUR = f"{DEMO_DAY.isoformat()}-14:00"
UPSTREAM = [trace_ingestion, programmatic_scores, feedback_linking]


def judge_resource(server: StandinServer, **fields) -> JudgeResource:
    return JudgeResource(**{"base_url": server.base_url, "api_key": "test-key", "model": JUDGE_MODEL,
                            "model_version": JUDGE_MODEL, "concurrency": 8, "backoff_initial_s": 0.01,
                            "backoff_max_s": 0.05, **fields})


def judge_hour(resources, instance, server, upstream=True, **fields):
    assets = [*UPSTREAM, judge_sample, judge_scores] if upstream else [judge_scores]
    return dg.materialize(assets, partition_key=ROLLOUT_HOUR, instance=instance,
                          resources={**resources, "judge": judge_resource(server, **fields)})


@pytest.fixture
def judged_hour(demo_home, resources, instance):
    with StandinServer(judge_persona) as server:
        result = judge_hour(resources, instance, server)
        yield result, server


def test_the_sample_covers_every_slice_and_takes_the_hard_cases(judged_hour, demo_home):
    result, _ = judged_hour
    meta = metadata(result, "judge_sample")
    sample = Lake(demo_home.warehouse).read_partition("judge_sample", "hour", ROLLOUT_HOUR).to_pandas()
    assert meta["dagster/row_count"] == len(sample) and meta["hard_cases"] > 0
    assert sample.groupby("stratum").size().min() >= min(3, sample.stratum_size.min())
    assert sample[sample.priority].inclusion_probability.eq(1).all()
    weighted = (1 / sample.inclusion_probability).sum()
    assert weighted == pytest.approx(meta["population"])
    assert "inclusion probability" in meta["strata_table"]


def test_judge_scores_carry_versions_and_show_the_prompt_rollout(judged_hour, demo_home):
    result, _ = judged_hour
    assert result.success
    meta = metadata(result, "judge_scores")
    scores = Lake(demo_home.warehouse).read_partition("judge_scores", "hour", ROLLOUT_HOUR).to_pandas()
    assert meta["status_ok"] == len(scores) == meta["dagster/row_count"]
    assert meta["calls_sent"] > 0 and meta["judge_model_mismatches"] == 0 and meta["tokens"] > 0
    assert scores.judge_version.str.len().eq(16).all() and scores.judged_at.notna().all()
    assert set(scores.rubric) == {"helpfulness", "faithfulness", "instruction_following"}
    helpful = scores[scores.rubric == "helpfulness"].groupby(["route", "prompt_version"]).passed.mean()
    assert helpful[("/orders", "v7")] < helpful.drop(("/orders", "v7")).min()
    assert 0 < meta["pass_rate_helpfulness"] < 1
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"judge_scores_error_rate": True, "judge_scores_within_budget": True}


def test_re_materializing_an_hour_sends_nothing(judged_hour, resources, instance):
    first, server = judged_hour
    sent = server.requests_received
    again = judge_hour(resources, instance, server, upstream=False)
    meta = metadata(again, "judge_scores")
    assert server.requests_received == sent
    assert meta["cache_hits"] == meta["dagster/row_count"] == metadata(first, "judge_scores")["dagster/row_count"]
    assert meta["calls_sent"] == 0


def test_a_spent_budget_skips_the_rest_visibly(demo_home, resources, instance, tmp_path):
    settings = tmp_path / "judge.yaml"
    settings.write_text(yaml.safe_dump({"rubrics": {"helpfulness": ["*"]},
                                        "budget": {"per_partition": {"calls": 5, "tokens": 10**6}}}))
    with StandinServer(judge_persona) as server:
        result = judge_hour(resources, instance, server, settings_file=str(settings), concurrency=1)
        assert server.requests_received == 5
    meta = metadata(result, "judge_scores")
    assert result.success and meta["status_skipped_budget"] > 0
    assert meta["status_ok"] + meta["status_skipped_budget"] == meta["dagster/row_count"]
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["judge_scores_within_budget"] is False


def test_an_endpoint_failing_a_fifth_of_requests_loses_no_rows(demo_home, resources, instance):
    faults = Faults(error_rate=0.2, error_statuses=(429, 503), retry_after_s=0.05, seed=3)
    with StandinServer(judge_persona, faults) as server:
        result = judge_hour(resources, instance, server, max_attempts=8)
    meta = metadata(result, "judge_scores")
    assert meta["retries"] > 0 and meta["status_ok"] == meta["dagster/row_count"]


def test_after_a_calibration_judge_rates_are_corrected_or_say_why_not(demo_home, resources, instance):
    from eval_pipelines.defs.calibration.assets import judge_calibration, label_ingestion

    with StandinServer(judge_persona) as server:
        dg.materialize([label_ingestion, judge_calibration], instance=instance,
                       resources={**resources, "judge": judge_resource(server)})
        meta = metadata(judge_hour(resources, instance, server), "judge_scores")
    for rubric in ("faithfulness", "helpfulness", "instruction_following"):
        if f"correction_{rubric}" in meta:
            assert "Youden's J" in meta[f"correction_{rubric}"]
        else:
            low, high = meta[f"pass_rate_{rubric}_corrected_low"], meta[f"pass_rate_{rubric}_corrected_high"]
            assert 0 <= low <= meta[f"pass_rate_{rubric}_corrected"] <= high <= 1
    assert "correction_helpfulness" in meta  # the stand-in passes nearly everything humans call unhelpful


def test_quality_slis_follow_the_judged_hour_with_plotted_totals(judged_hour, demo_home, resources, instance):
    from eval_pipelines.defs.monitoring.assets import quality_slis

    result = dg.materialize([quality_slis], partition_key=ROLLOUT_HOUR, instance=instance, resources=resources)
    meta = metadata(result, "quality_slis")
    all_slis = Lake(demo_home.warehouse).read_partition("quality_slis", "hour", ROLLOUT_HOUR).to_pandas()
    slis, minutes = all_slis[all_slis.window_minutes == 60], all_slis[all_slis.window_minutes == 1]
    assert meta["volume"] == slis[(slis.sli == "volume") & (slis.slice == "total")].value.item()
    # The minutes add up to the hour: volumes, and each rate's numerator and denominator.
    total = minutes[minutes.slice == "total"].groupby("sli")[["value", "numerator", "denominator"]].sum()
    assert total.loc["volume", "value"] == meta["volume"]
    refusal = slis[(slis.sli == "refusal_rate") & (slis.slice == "total")].iloc[0]
    assert (total.loc["refusal_rate", "numerator"], total.loc["refusal_rate", "denominator"]) == (
        refusal.numerator, refusal.denominator)
    assert 0 < meta["refusal_rate"] < 0.5 and 0 < meta["judge_pass_rate_helpfulness"] < 1
    refusals = slis[(slis.sli == "refusal_rate") & (slis.dimension == "route")].set_index("route").value
    assert refusals["/orders"] == refusals.max() and refusals["/orders"] > 3 * meta["refusal_rate"] / 2
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    hourly_rules = load_alert_config().only("quality_slis").rules
    assert checks["quality_slis_json_validity_down"] is True and len(checks) == len(hourly_rules)
