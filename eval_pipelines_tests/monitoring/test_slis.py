from datetime import UTC, datetime

import pyarrow as pa
import pytest
from scipy import stats

from eval_pipelines.monitoring.intervals import wilson
from eval_pipelines.monitoring.slis import HourInputs, compute_slis
from eval_pipelines.schemas import JUDGE_SCORES, PROGRAMMATIC_SCORES, TRACES, USER_FEEDBACK

HOUR = datetime(2026, 11, 21, 14, tzinfo=UTC)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (5, 10), (10, 10), (81, 263), (1, 1000), (3, 7)])
def test_wilson_matches_scipy(k, n):
    reference = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson(k, n) == pytest.approx((reference.low, reference.high))


def table(schema, rows):
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


@pytest.fixture
def inputs():
    # 8 requests on /orders (v7), 2 on /chat (v4); one /orders call errored.
    routes = [("/orders", "v7")] * 8 + [("/chat", "v4")] * 2
    traces = table(TRACES, [{"span_id": f"s{i}", "trace_id": f"t{i}", "start_time": HOUR, "route": r,
                             "prompt_version": v, "response_model": "m-1", "duration_ms": float(10 * (i + 1)),
                             "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.001,
                             "status_code": "ERROR" if i == 0 else "OK"}
                            for i, (r, v) in enumerate(routes)])
    refusals = {1, 2, 3, 9}  # three of the 7 answered /orders calls, one of the 2 /chat calls
    scores = table(PROGRAMMATIC_SCORES, [{"span_id": f"s{i}", "route": r, "prompt_version": v,
                                          "response_model": "m-1", "evaluator": "refusal", "passed": i not in refusals}
                                         for i, (r, v) in enumerate(routes) if i != 0])
    feedback = table(USER_FEEDBACK, [
        {"feedback_id": "f1", "observed_time": HOUR, "kind": "thumbs", "label": "down", "route": "/orders",
         "prompt_version": "v7", "response_model": "m-1"},
        {"feedback_id": "f2", "observed_time": HOUR, "kind": "thumbs", "label": "up", "route": "/chat",
         "prompt_version": "v4", "response_model": "m-1"},
        {"feedback_id": "f3", "observed_time": HOUR, "kind": "regeneration", "route": "/orders", "prompt_version": "v7",
         "response_model": "m-1"}])
    # A hard case (p = 1) failed; two regular requests (p = 0.25) passed.
    judged = table(JUDGE_SCORES, [
        {"span_id": "s1", "rubric": "helpfulness", "status": "ok", "passed": False, "inclusion_probability": 1.0,
         "route": "/orders", "prompt_version": "v7", "response_model": "m-1"},
        {"span_id": "s4", "rubric": "helpfulness", "status": "ok", "passed": True, "inclusion_probability": 0.25,
         "route": "/orders", "prompt_version": "v7", "response_model": "m-1"},
        {"span_id": "s8", "rubric": "helpfulness", "status": "ok", "passed": True, "inclusion_probability": 0.25,
         "route": "/chat", "prompt_version": "v4", "response_model": "m-1"},
        {"span_id": "s9", "rubric": "helpfulness", "status": "error", "inclusion_probability": 0.25,
         "route": "/chat", "prompt_version": "v4", "response_model": "m-1"}])
    return HourInputs(traces, scores=scores, feedback=feedback, judged=judged)


def sli(slis: pa.Table, name: str, slice_key: str = "total") -> dict:
    """The hour's row of one SLI and slice."""
    (row,) = [r for r in slis.to_pylist() if r["sli"] == name and r["slice"] == slice_key and r["window_minutes"] == 60]
    return row


def test_slis_match_hand_computed_values(con, inputs):
    slis = compute_slis(con, HOUR, inputs, min_samples=5)
    assert sli(slis, "volume")["value"] == 10 and sli(slis, "tokens")["value"] == 150
    assert sli(slis, "latency_p50_ms")["value"] == pytest.approx(55.0)
    error = sli(slis, "error_rate")
    assert (error["numerator"], error["denominator"], error["value"]) == (1, 10, 0.1)
    assert (error["ci_low"], error["ci_high"]) == pytest.approx(wilson(1, 10))
    assert sli(slis, "refusal_rate", "route=/orders")["value"] == pytest.approx(3 / 7)
    assert sli(slis, "refusal_rate", "route=/chat")["value"] == 0.5
    assert sli(slis, "refusal_rate", "route=/orders, prompt_version=v7, model=m-1")["denominator"] == 7
    assert sli(slis, "thumbs_down_rate")["value"] == 0.5
    assert sli(slis, "regeneration_rate", "route=/orders")["value"] == pytest.approx(1 / 8)
    judge = sli(slis, "judge_pass_rate_helpfulness")
    assert judge["value"] == pytest.approx(8 / 9)  # (0*1 + 1*4 + 1*4) / (1 + 4 + 4)
    assert judge["denominator"] == pytest.approx(81 / 33)  # Kish: 9^2 / (1 + 16 + 16)


def test_small_samples_are_marked_not_hidden(con, inputs):
    slis = compute_slis(con, HOUR, inputs, min_samples=5)
    chat = sli(slis, "refusal_rate", "route=/chat")
    assert chat["low_sample"] and chat["ci_low"] < 0.5 < chat["ci_high"]
    assert not sli(slis, "error_rate")["low_sample"]


def test_corrected_judge_rates_appear_with_a_calibration(con, inputs):
    calibration = {"helpfulness": {"tpr": 0.95, "tnr": 0.9, "n_pass": 200, "n_fail": 100}}
    slis = compute_slis(con, HOUR, HourInputs(**{**inputs.__dict__, "calibration": calibration}), min_samples=5)
    corrected = sli(slis, "judge_pass_rate_helpfulness_corrected")
    assert corrected["value"] == pytest.approx((8 / 9 + 0.9 - 1) / 0.85)
    assert corrected["ci_low"] <= corrected["value"] <= corrected["ci_high"]
