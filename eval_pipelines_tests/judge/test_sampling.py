from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from eval_pipelines.judge.sampling import draw_sample, hard_cases
from eval_pipelines.judge.settings import PrioritySettings, SamplingSettings
from eval_pipelines_tests.judge.requests import request, traces_table

NO_HARD = pa.table({"span_id": pa.array([], pa.string()), "reasons": pa.array([], pa.list_(pa.string()))})
HOUR = datetime(2026, 11, 21, 14, tzinfo=UTC)
HOUR_US = int(HOUR.timestamp() * 1e6)


def traffic(sizes: dict[str, int], prefix: str = "") -> pa.Table:
    """Requests on the given routes (one stratum per route) spread over the hour, e.g. {"/big": 900, "/small": 5}."""
    rows = [request(f"{prefix}{route}-{i}", route=route, start_time=HOUR + timedelta(seconds=3599 * i / max(n, 1)))
            for route, n in sizes.items() for i in range(n)]
    return traces_table(rows)


def settings(**overrides) -> SamplingSettings:
    return SamplingSettings(**{"seed": 1, "per_hour": 50, "min_per_stratum": 3, "strata": ["route"], **overrides})


CLOSED = HOUR_US + 3_600_000_001  # a backfill: the hour is over
LIVE = HOUR_US + 1_800_000_000  # half past: the hour is still arriving


def draw(con, requests, hard=NO_HARD, rates=None, now_us=CLOSED, **overrides):
    return draw_sample(con, requests, hard, settings(**overrides), HOUR_US, rates, now_us)


def rate_of(drawn, stratum: str) -> float:
    rates = drawn.rates.to_pylist()
    return next(row["rate"] for row in rates if row["stratum"] == stratum)


def test_the_same_seed_draws_the_same_requests_and_another_seed_others(con):
    requests = traffic({"/big": 900, "/small": 40})
    first, again, other = draw(con, requests), draw(con, requests), draw(con, requests, seed=2)
    assert first.sample.column("span_id").to_pylist() == again.sample.column("span_id").to_pylist()
    assert set(first.sample.column("span_id").to_pylist()) != set(other.sample.column("span_id").to_pylist())


def test_each_stratum_gets_the_base_rate_raised_to_expect_its_minimum(con):
    drawn = draw(con, traffic({"/big": 900, "/mid": 40, "/small": 2}))
    assert rate_of(drawn, "route=/big") == pytest.approx(50 / 942)
    assert rate_of(drawn, "route=/mid") == pytest.approx(3 / 40)  # the base rate would expect under 3
    assert rate_of(drawn, "route=/small") == 1.0
    small = [row for row in drawn.sample.to_pylist() if row["route"] == "/small"]
    assert len(small) == 2 and all(row["inclusion_probability"] == 1 for row in small)
    assert all(row["draw"] < row["inclusion_probability"] for row in drawn.sample.to_pylist())


def test_hard_cases_are_always_taken_while_they_fit_their_share(con):
    requests = traffic({"/big": 900})
    hard = pa.table({"span_id": [f"/big-{i}" for i in range(0, 200, 10)], "reasons": [["failed:refusal"]] * 20})
    drawn = draw(con, requests, hard)
    taken = {row["span_id"]: row for row in drawn.sample.to_pylist()}
    assert all(taken[span]["inclusion_probability"] == 1 and taken[span]["priority"]
               for span in hard.column("span_id").to_pylist())
    assert taken["/big-0"]["priority_reasons"] == ["failed:refusal"]
    assert drawn.sample.column("priority").to_pylist()[:20] == [True] * 20
    assert rate_of(drawn, "route=/big") == pytest.approx(30 / 880)  # what the hard cases leave of the budget


def test_hard_cases_beyond_their_share_are_sampled_with_known_probability(con):
    requests = traffic({"/big": 900})
    hard = pa.table({"span_id": [f"/big-{i}" for i in range(100)], "reasons": [["thumbs_down"]] * 100})
    drawn = draw(con, requests, hard, priority=PrioritySettings(max_share=0.2))
    assert rate_of(drawn, "route=/big (hard case)") == pytest.approx(10 / 100)
    assert all(row["inclusion_probability"] == pytest.approx(0.1) for row in drawn.sample.to_pylist()
               if row["priority"])


def test_rates_are_kept_when_the_rest_of_the_hour_arrives_and_no_taken_request_is_dropped(con):
    everything = traffic({"/big": 900, "/small": 10})
    early = everything.filter(pc.less(everything.column("start_time"), pa.scalar(HOUR + timedelta(minutes=15))))
    first = draw(con, early, now_us=LIVE)
    assert rate_of(first, "route=/big") == pytest.approx(50 / (early.num_rows * 60 / 15), rel=0.05)
    later = draw(con, everything, rates=first.rates, now_us=LIVE)
    assert first.rates.equals(later.rates)  # no new stratum: nothing decided again
    assert set(first.sample.column("span_id").to_pylist()) <= set(later.sample.column("span_id").to_pylist())
    late_stratum = draw(con, pa.concat_tables([everything, traffic({"/new": 30}, "n")]), rates=later.rates)
    assert late_stratum.new_strata == 1 and rate_of(late_stratum, "route=/big") == rate_of(first, "route=/big")


def test_the_weighted_estimate_is_unbiased_when_the_hour_arrives_in_pieces(con):
    """Simulation: 100 seeds, each hour arriving in four pieces; the Hajek estimate of a pass rate that differs
    by stratum averages to the truth (within four standard errors of the mean), and so does the
    Horvitz-Thompson estimate of the population."""
    sizes = {"/big": 600, "/mid": 60, "/small": 8}
    requests = traffic(sizes)
    passed = {row["span_id"]: int(row["span_id"].rsplit("-", 1)[1]) % 10 < {"/big": 9, "/mid": 5, "/small": 2}[
        row["route"]] for row in requests.to_pylist()}
    truth = sum(passed.values()) / len(passed)
    order = pc.sort_indices(requests.column("start_time"))
    requests = requests.take(order)
    pieces = [requests.slice(start, 167) for start in range(0, requests.num_rows, 167)]
    estimates, populations = [], []
    for seed in range(100):
        rates, arrived = None, None
        for piece in pieces:
            arrived = piece if arrived is None else pa.concat_tables([arrived, piece])
            drawn = draw(con, arrived, rates=rates, seed=seed, now_us=LIVE)
            rates = drawn.rates
        rows = drawn.sample.to_pylist()
        weights = [1 / row["inclusion_probability"] for row in rows]
        estimates.append(sum(w * passed[row["span_id"]] for w, row in zip(weights, rows, strict=True)) / sum(weights))
        populations.append(sum(weights))
    for values, target in ((estimates, truth), (populations, len(passed))):
        mean = sum(values) / len(values)
        spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        assert abs(mean - target) < 4 * spread / len(values) ** 0.5 + 0.005 * target, (mean, target)


def test_requests_without_an_answer_are_not_in_the_population(con):
    requests = traces_table([request("answered"), request("empty", output="  "), request("none", output=None),
                             request("tool", output=None, tool_calls='[{"name": "lookup"}]')])
    assert sorted(draw(con, requests).sample.column("span_id").to_pylist()) == ["answered", "tool"]


def test_hard_cases_come_from_failed_listed_evaluators_and_thumbs_down(con):
    scores = pa.table({"span_id": ["a", "a", "b", "c"], "evaluator": ["refusal", "grounding", "latency", "refusal"],
                       "passed": [False, False, False, True]})
    feedback = pa.table({"span_id": ["c", "d", None], "kind": ["thumbs", "thumbs", "thumbs"],
                         "label": ["down", "up", "down"]})
    hard = hard_cases(con, scores, feedback, PrioritySettings(failed_evaluators=["refusal", "grounding"]))
    assert dict(zip(*hard.to_pydict().values(), strict=True)) == {
        "a": ["failed:grounding", "failed:refusal"], "c": ["thumbs_down"]}


def test_an_hour_without_answers_gives_an_empty_sample(con):
    drawn = draw(con, traces_table([]))
    assert drawn.sample.num_rows == 0 and drawn.sample.schema.names[:2] == ["span_id", "trace_id"]
