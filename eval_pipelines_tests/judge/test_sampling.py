import pyarrow as pa
import pytest

from eval_pipelines.judge.sampling import allocate, draw_sample, hard_cases
from eval_pipelines.judge.settings import PrioritySettings, SamplingSettings
from eval_pipelines_tests.judge.requests import request, traces_table

NO_HARD = pa.table({"span_id": pa.array([], pa.string()), "reasons": pa.array([], pa.list_(pa.string()))})


def traffic(sizes: dict[str, int]) -> pa.Table:
    """Requests on the given routes (one stratum per route), e.g. {"/big": 900, "/small": 5}."""
    return traces_table([request(f"{route}-{i}", route=route) for route, n in sizes.items() for i in range(n)])


def settings(**overrides) -> SamplingSettings:
    return SamplingSettings(**{"seed": 1, "per_hour": 50, "min_per_stratum": 3, "strata": ["route"], **overrides})


def test_allocation_gives_every_stratum_its_minimum_then_shares_the_rest_by_size():
    take = allocate({"a": 900, "b": 90, "c": 2}, budget=50, minimum=3)
    assert take["c"] == 2  # all it has
    assert take["b"] >= 3 and take["a"] > 8 * take["b"] / 2
    assert sum(take.values()) == 50


def test_allocation_never_exceeds_a_stratum_and_keeps_minimums_over_a_small_budget():
    assert allocate({"a": 4, "b": 4}, budget=100, minimum=3) == {"a": 4, "b": 4}
    assert allocate({s: 10 for s in "abcdef"}, budget=6, minimum=3) == {s: 3 for s in "abcdef"}


def test_the_same_seed_draws_the_same_requests_and_another_seed_others(con):
    requests = traffic({"/big": 900, "/small": 40})
    first = draw_sample(con, requests, NO_HARD, settings())
    again = draw_sample(con, requests, NO_HARD, settings())
    other = draw_sample(con, requests, NO_HARD, settings(seed=2))
    assert first.column("span_id").to_pylist() == again.column("span_id").to_pylist()
    assert set(first.column("span_id").to_pylist()) != set(other.column("span_id").to_pylist())


def test_inclusion_probabilities_weight_the_sample_back_to_the_population(con):
    requests = traffic({"/big": 900, "/mid": 95, "/small": 2})
    sample = draw_sample(con, requests, NO_HARD, settings())
    assert sample.num_rows == 50
    weights = {}
    for row in sample.to_pylist():
        weights[row["route"]] = weights.get(row["route"], 0) + 1 / row["inclusion_probability"]
    assert weights == pytest.approx({"/big": 900, "/mid": 95, "/small": 2})
    small = [row for row in sample.to_pylist() if row["route"] == "/small"]
    assert len(small) == 2 and all(row["inclusion_probability"] == 1 for row in small)


def test_hard_cases_are_always_taken_while_they_fit_their_share(con):
    requests = traffic({"/big": 900})
    hard = pa.table({"span_id": [f"/big-{i}" for i in range(0, 200, 10)],
                     "reasons": [["failed:refusal"]] * 20})
    sample = draw_sample(con, requests, hard, settings())
    taken = {row["span_id"]: row for row in sample.to_pylist()}
    assert all(taken[span]["inclusion_probability"] == 1 and taken[span]["priority"]
               for span in hard.column("span_id").to_pylist())
    assert taken["/big-0"]["priority_reasons"] == ["failed:refusal"]
    assert sample.num_rows == 50 and sample.column("priority").to_pylist()[:20] == [True] * 20


def test_hard_cases_beyond_their_share_are_sampled_with_known_probability(con):
    requests = traffic({"/big": 900})
    hard = pa.table({"span_id": [f"/big-{i}" for i in range(100)], "reasons": [["thumbs_down"]] * 100})
    sample = draw_sample(con, requests, hard, settings(priority=PrioritySettings(max_share=0.2)))
    priority = [row for row in sample.to_pylist() if row["priority"]]
    assert len(priority) == 10 and all(row["inclusion_probability"] == pytest.approx(0.1) for row in priority)
    assert sample.num_rows == 50


def test_requests_without_an_answer_are_not_in_the_population(con):
    requests = traces_table([request("answered"), request("empty", output="  "), request("none", output=None),
                             request("tool", output=None, tool_calls='[{"name": "lookup"}]')])
    sample = draw_sample(con, requests, NO_HARD, settings())
    assert sorted(sample.column("span_id").to_pylist()) == ["answered", "tool"]


def test_hard_cases_come_from_failed_listed_evaluators_and_thumbs_down(con):
    scores = pa.table({"span_id": ["a", "a", "b", "c"], "evaluator": ["refusal", "grounding", "latency", "refusal"],
                       "passed": [False, False, False, True]})
    feedback = pa.table({"span_id": ["c", "d", None], "kind": ["thumbs", "thumbs", "thumbs"],
                         "label": ["down", "up", "down"]})
    hard = hard_cases(con, scores, feedback, PrioritySettings(failed_evaluators=["refusal", "grounding"]))
    assert dict(zip(*hard.to_pydict().values(), strict=True)) == {
        "a": ["failed:grounding", "failed:refusal"], "c": ["thumbs_down"]}


def test_an_hour_without_answers_gives_an_empty_sample(con):
    sample = draw_sample(con, traces_table([]), NO_HARD, settings())
    assert sample.num_rows == 0 and sample.schema.names[:2] == ["span_id", "trace_id"]
