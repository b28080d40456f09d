"""Divergence maths on constructed data: Newcombe's interval, weighted online judge rates, the
comparison and the shortfall the alert rule watches."""

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from eval_pipelines.lake import Lake
from eval_pipelines.offline.divergence import (
    DIMENSION,
    SHORTFALL,
    compare,
    divergence_slis,
    newcombe,
    offline_rates,
    online_rates,
    shortfall,
)
from eval_pipelines.schemas import JUDGE_SCORES, PROGRAMMATIC_SCORES

DAY = date(2026, 11, 21)


def test_newcombe_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (56/70 vs 48/80), method 10.
    low, high = newcombe(56 / 70, 70, 48 / 80, 80)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-4)


def test_online_judge_rates_are_weighted_by_inclusion_probability(tmp_path, con):
    lake = Lake(tmp_path)
    # Hard cases (probability 1) fail, the 1-in-10 random draw passes: the traffic passes ~9 times in 10.
    judged = [{"span_id": f"h{i}", "rubric": "helpfulness", "status": "ok", "passed": False,
               "inclusion_probability": 1.0, "prompt_version": "v7", "response_model": "m"} for i in range(10)]
    judged += [{"span_id": f"r{i}", "rubric": "helpfulness", "status": "ok", "passed": True,
                "inclusion_probability": 0.1, "prompt_version": "v7", "response_model": "m"} for i in range(10)]
    judged += [{"span_id": "e", "rubric": "helpfulness", "status": "error", "passed": None,
                "inclusion_probability": 0.1, "prompt_version": "v7", "response_model": "m"}]
    lake.write_partition("judge_scores", "hour", "2026-11-21-14:00", pa.Table.from_pylist(judged, schema=JUDGE_SCORES))
    lake.write_partition("judge_scores", "hour", "2026-11-22-14:00", pa.Table.from_pylist(judged[:5],
                                                                                         schema=JUDGE_SCORES))
    scored = [{"span_id": f"p{i}", "evaluator": "refusal", "passed": i % 4 != 0, "prompt_version": "v7",
               "request_model": "m"} for i in range(8)]
    lake.write_partition("programmatic_scores", "hour", "2026-11-21-15:00",
                         pa.Table.from_pylist(scored, schema=PROGRAMMATIC_SCORES))
    sessions = [{"span_id": f"s{i}", "rubric": "conversation_resolution", "status": "ok", "passed": i < 3,
                 "inclusion_probability": 0.5, "prompt_version": "v7", "response_model": "m"} for i in range(4)]
    lake.write_partition("conversation_judge_scores", "hour", "2026-11-21-16:00",
                         pa.Table.from_pylist(sessions, schema=JUDGE_SCORES))
    rates = {row["metric"]: row for row in online_rates(
        con, lake.scan("programmatic_scores"),
        [lake.scan("judge_scores"), lake.scan("conversation_judge_scores"), None], DAY)}
    assert rates["helpfulness"]["rate"] == pytest.approx(100 / 110)
    assert rates["helpfulness"]["n"] == pytest.approx(110 ** 2 / (10 + 100 * 10))  # Kish's effective size
    assert (rates["refusal"]["rate"], rates["refusal"]["n"]) == (0.75, 8)
    assert rates["refusal"]["model"] == "m"  # the request model when the response names none
    assert (rates["conversation_resolution"]["rate"], rates["conversation_resolution"]["n"]) == (0.75, 4)


def test_the_comparison_matches_versions_and_the_shortfall_is_what_the_interval_is_sure_of():
    online = [{"model": "m", "prompt_version": "v7", "metric": "helpfulness", "rate": 0.55, "n": 400.0},
              {"model": "m", "prompt_version": "v6", "metric": "helpfulness", "rate": 0.88, "n": 400.0}]
    offline = offline_rates(
        [{"source": "team", "model": "m", "prompt_version": "v7", "metric": "helpfulness", "passed": True}] * 95
        + [{"source": "team", "model": "m", "prompt_version": "v7", "metric": "helpfulness", "passed": False}] * 5
        + [{"source": "golden_v1", "model": "m", "prompt_version": "v6", "metric": "helpfulness",
            "passed": i % 10 != 0} for i in range(20)]
        + [{"source": "golden_v1", "model": "other", "prompt_version": "v7", "metric": "helpfulness", "passed": True}]
        + [{"source": "golden_v1", "model": "m", "prompt_version": "v6", "metric": "helpfulness", "passed": None}])
    table = compare(DAY, online, offline)
    rows = {(r["prompt_version"], r["offline_source"]): r for r in table.to_pylist()}
    assert set(rows) == {("v7", "team"), ("v6", "golden_v1")}  # the unseen model is not compared
    v7, v6 = rows[("v7", "team")], rows[("v6", "golden_v1")]
    assert v7["gap"] == pytest.approx(-0.40) and v7["gap_low"] < -0.40 < v7["gap_high"] < -0.3
    assert shortfall(v7) == pytest.approx(-v7["gap_high"]) and shortfall(v7) > 0.3
    assert v6["offline_n"] == 20 and v6["gap_low"] < 0 < v6["gap_high"] and shortfall(v6) == 0.0
    slis = divergence_slis(datetime(2026, 11, 21, tzinfo=UTC), table).to_pylist()
    assert {row["sli"] for row in slis} == {SHORTFALL, "divergence_max_shortfall"}
    (v7_sli,) = [r for r in slis if r["prompt_version"] == "v7"]
    assert v7_sli["dimension"] == DIMENSION and v7_sli["value"] == shortfall(v7)
    assert v7_sli["slice"] == "metric=helpfulness, offline=team, prompt_version=v7, model=m"
    assert [r["value"] for r in slis if r["slice"] == "total"] == [shortfall(v7)]
