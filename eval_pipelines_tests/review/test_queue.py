"""Review queue selection: reasons, the control draw, caps and de-duplication."""

import random

import pytest

from eval_pipelines.config import ConfigError
from eval_pipelines.review.queue import (
    AlertWindow,
    Deduplicator,
    dedup_key,
    hard_case_reasons,
    parse_slice,
    select,
)
from eval_pipelines.review.settings import load_review_settings

SETTINGS = load_review_settings()
WORDS = ("order", "refund", "parcel", "invoice", "lamp", "watch", "charger", "warranty", "courier",
         "address", "password", "account", "battery", "screen", "colour", "size", "delivery", "Berlin",
         "Madrid", "Tokyo", "Monday", "Friday", "broken", "late", "missing")


def distinct_question(i: int) -> str:
    rng = random.Random(i)
    return " ".join(rng.choice(WORDS) for _ in range(14))


def request(i: int, question: str | None = None, answer: str = "Your parcel left the warehouse today.",
            route: str = "/orders", version: str = "v6") -> dict:
    return {"span_id": f"s{i:04d}", "trace_id": f"t{i}", "start_time": f"2026-11-21T14:{i % 60:02d}",
            "route": route, "prompt_version": version, "response_model": "m",
            "input_text": question or distinct_question(i), "output_text": answer}


def test_each_reason_is_found_and_a_passing_judge_against_a_failing_check_is_a_disagreement():
    requests = [request(i) for i in range(6)]
    verdicts = [{"span_id": "s0001", "status": "ok", "passed": False, "score": 1},
                {"span_id": "s0002", "status": "ok", "passed": True, "score": 5},
                {"span_id": "s0003", "status": "ok", "passed": True, "score": 3},
                {"span_id": "s0004", "status": "error", "passed": None, "score": None}]
    scores = [{"span_id": "s0002", "evaluator": "refusal", "passed": False},
              {"span_id": "s0003", "evaluator": "answer_words", "passed": False}]  # not a disagreement evaluator
    feedback = [{"span_id": "s0000", "kind": "thumbs", "label": "down"},
                {"span_id": "s0005", "kind": "thumbs", "label": "up"}]
    found = hard_case_reasons(requests, scores, verdicts, feedback, [], SETTINGS)
    assert {span: c.reasons for span, c in found.items()} == {
        "s0000": ["thumbs_down"], "s0001": ["judge_fail"], "s0002": ["judge_disagrees"], "s0003": ["low_confidence"]}


def test_requests_in_an_open_incidents_slice_are_marked_with_the_incident():
    requests = [request(0, version="v7"), request(1, version="v6"), request(2, route="/chat", version="v7")]
    window = AlertWindow("refusal_rate_up|total", parse_slice("route=/orders, prompt_version=v7, model=m"))
    found = hard_case_reasons(requests, [], [], [], [window], SETTINGS)
    assert list(found) == ["s0000"] and found["s0000"].alert_keys == ["refusal_rate_up|total"]
    assert parse_slice("total") == {} and parse_slice(None) == {}


def test_the_control_draw_comes_first_is_marked_and_is_a_fixed_uniform_sample_of_all_requests():
    requests = [request(i) for i in range(200)]
    hard = hard_case_reasons(requests, [], [], [{"span_id": f"s{i:04d}", "kind": "thumbs", "label": "down"}
                                                 for i in range(0, 200, 2)], [], SETTINGS)
    chosen = select(requests, hard, SETTINGS, places=20)
    control = [c for c in chosen if c.control]
    assert len(chosen) == 20 and len(control) == 2 and chosen[:2] == control
    assert all(c.inclusion_probability == pytest.approx(2 / 200) for c in control)
    assert [c.request["span_id"] for c in select(requests, hard, SETTINGS, 20)][:2] == [
        c.request["span_id"] for c in control]  # the same draw on a re-run
    rest = chosen[2:]
    assert all(c.reasons == ["thumbs_down"] and not c.control for c in rest)


def test_hard_cases_go_by_priority_and_the_cap_holds():
    requests = [request(i) for i in range(10)]
    verdicts = [{"span_id": f"s{i:04d}", "status": "ok", "passed": False, "score": 1} for i in range(5)]
    feedback = [{"span_id": f"s{i:04d}", "kind": "thumbs", "label": "down"} for i in range(5, 10)]
    settings = SETTINGS.model_copy(update={"control_share": 0.0})
    chosen = select(requests, hard_case_reasons(requests, [], verdicts, feedback, [], settings), settings, places=7)
    assert [c.reasons[0] for c in chosen] == ["thumbs_down"] * 5 + ["judge_fail"] * 2


def test_duplicates_and_near_duplicates_are_queued_once_also_against_earlier_hours():
    base = ("My order #12345 has not arrived and I have been waiting since last week for the parcel with the "
            "new lamp and the charger that I need for work, could you please check with the courier where it is")
    requests = [request(0, base), request(1, base.replace("12345", "99881")),  # same after digit folding
                request(2, base.upper()),  # same after case folding
                request(3, base + " thanks"),  # near duplicate
                request(4, "How do I return a broken lamp that I bought in the shop in Berlin last month?")]
    for r in requests[:4]:
        r["output_text"] = "It ships today."
    feedback = [{"span_id": r["span_id"], "kind": "thumbs", "label": "down"} for r in requests]
    settings = SETTINGS.model_copy(update={"control_share": 0.0})
    hard = hard_case_reasons(requests, [], [], feedback, [], settings)
    assert [c.request["span_id"] for c in select(requests, hard, settings, 10)] == ["s0000", "s0004"]
    earlier = [{"prompt_version": "v6", "model": "m", "dedup_key": dedup_key(requests[4])}]
    assert [c.request["span_id"] for c in select(requests, hard, settings, 10, earlier)] == ["s0000"]


def test_the_same_exchange_under_a_new_prompt_version_is_queued_again():
    """A rollout's refusals repeat the old version's rare refusals word for word; they must still reach review."""
    refusal = "I'm sorry, I can't help with that request."
    question = "Where is my order #12345? It was due on Monday and the tracking page shows nothing at all."
    requests = [request(0, question, refusal, version="v6"), request(1, question, refusal, version="v7"),
                request(2, question, refusal, version="v7")]
    feedback = [{"span_id": r["span_id"], "kind": "thumbs", "label": "down"} for r in requests]
    settings = SETTINGS.model_copy(update={"control_share": 0.0})
    hard = hard_case_reasons(requests, [], [], feedback, [], settings)
    assert [c.request["span_id"] for c in select(requests, hard, settings, 10)] == ["s0000", "s0001"]
    earlier = [{"prompt_version": "v6", "model": "m", "dedup_key": dedup_key(requests[0])}]
    assert [c.request["span_id"] for c in select(requests, hard, settings, 10, earlier)] == ["s0001"]


def test_the_deduplicator_keeps_distinct_texts():
    keeper = Deduplicator(0.8)
    assert keeper.keep("where is my order") and keeper.keep("how do i return an item")
    assert not keeper.keep("where is my order")


def test_an_unknown_reason_is_a_clear_error(tmp_path):
    path = tmp_path / "review.yaml"
    path.write_text("reasons: {thumbs_down: 1, vibes: 2}\n")
    with pytest.raises(ConfigError, match="unknown reason"):
        load_review_settings(path)
