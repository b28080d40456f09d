"""Golden-set refreshes: near-duplicate removal, fair stratification under the cap, leak-free splits,
immutable versions with manifests, and what the refresh sensor counts as pending."""

import json
from datetime import UTC, datetime

import pytest

from eval_pipelines.review.golden import (
    HELD_OUT,
    REGRESSION,
    apply_cap,
    fair_quotas,
    latest_version,
    manifest_path,
    pending_failures,
    refresh,
    reviewed_failures,
    splits_leak,
    write_version,
)
from eval_pipelines.review.queue import dedup_key
from eval_pipelines.review.settings import GoldenSettings
from eval_pipelines_tests.review.test_queue import distinct_question

NOW = datetime(2026, 11, 22, 9, tzinfo=UTC)


def queued(i: int, route: str = "/orders", question: str | None = None, session: str | None = None,
           day: int = 21) -> dict:
    request = {"span_id": f"s{i:04d}", "trace_id": f"t{i}", "session_id": session, "route": route,
               "prompt_version": "v7", "model": "m", "start_time": datetime(2026, 11, day, 14, tzinfo=UTC),
               "input_text": question or distinct_question(i), "output_text": "I cannot help with that.",
               "input_messages": None, "retrieved_context": None, "alert_keys": ["refusal_rate_up|total"],
               "reasons": ["alert_window"], "control": False}
    return request | {"dedup_key": dedup_key(request)}


def failures(queue: list[dict], settings: GoldenSettings, rubric: str = "helpfulness") -> list[dict]:
    resolved = [{"item_id": q["span_id"], "rubric": rubric, "label": "unhelpful", "passed": False} for q in queue]
    labels = [{"item_id": q["span_id"], "reviewer_id": "ana", "comment": "Give the order status."} for q in queue]
    return reviewed_failures(queue, resolved, labels, settings)


def test_only_reviewed_failures_become_items_with_input_expectation_tags_and_provenance():
    settings = GoldenSettings()
    queue = [queued(1), queued(2)]
    resolved = [{"item_id": "s0001", "rubric": "helpfulness", "label": "unhelpful", "passed": False},
                {"item_id": "s0002", "rubric": "helpfulness", "label": "helpful", "passed": True},
                {"item_id": "s9999", "rubric": "helpfulness", "label": "unhelpful", "passed": False}]  # not queued
    labels = [{"item_id": "s0001", "reviewer_id": "ana", "comment": "Give the order status."}]
    (item,) = reviewed_failures(queue, resolved, labels, settings)
    assert item["id"] == "gold-s0001" and item["input"]["text"] == queue[0]["input_text"]
    assert item["expected"] == {"behaviour": "Give the order status.", "failing_rubrics": {"helpfulness": "unhelpful"},
                                "notes": ["Give the order status."]}
    assert item["tags"] == {"route": "/orders", "failure_mode": "helpfulness", "prompt_version": "v7", "model": "m"}
    assert item["provenance"] == {"span_id": "s0001", "trace_id": "t1", "session_id": None, "date": "2026-11-21",
                                       "reviewers": ["ana"], "alert_keys": ["refusal_rate_up|total"],
                                       "reasons": ["alert_window"], "control": False}


def test_a_refresh_rejects_near_duplicates_of_existing_items_and_says_of_which(tmp_path):
    settings = GoldenSettings()
    first = refresh(None, failures([queued(1, question="Where is my parcel 123 it was due on Monday please")],
                                   settings), settings)
    v1 = write_version(tmp_path, None, first, settings, NOW, "test")
    twin = queued(2, question="where is my parcel 456 it was due on monday please")  # digits and case folded
    other = queued(3)
    second = refresh(v1, failures([twin, other], settings), settings)
    assert second.rejected == [{"id": "gold-s0002", "reason": "near-duplicate of gold-s0001"}]
    assert [entry["id"] for entry in second.added] == ["gold-s0003"]
    assert second.added[0]["reason"] == "reviewed failure helpfulness=unhelpful by ana; alert refusal_rate_up|total"


def test_fair_quotas_keep_small_strata_whole_and_split_the_rest():
    assert fair_quotas({"a": 2, "b": 50, "c": 100}, 30) == {"a": 2, "b": 14, "c": 14}
    assert fair_quotas({"a": 5, "b": 5}, 100) == {"a": 5, "b": 5}
    assert sum(fair_quotas({"a": 7, "b": 8, "c": 9}, 10).values()) == 10


def test_over_the_cap_every_route_and_failure_mode_keeps_its_share_newest_first():
    settings = GoldenSettings(size_cap=12)
    items = (failures([queued(i, day=1 + i % 28) for i in range(40)], settings)
             + failures([queued(100 + i, route="/chat") for i in range(3)], settings)
             + failures([queued(200 + i) for i in range(20)], settings, rubric="faithfulness"))
    kept, removed = apply_cap(items, settings.size_cap)
    strata = {}
    for item in kept:
        strata[(item["tags"]["route"], item["tags"]["failure_mode"])] = strata.get(
            (item["tags"]["route"], item["tags"]["failure_mode"]), 0) + 1
    assert strata == {("/orders", "helpfulness"): 5, ("/chat", "helpfulness"): 3, ("/orders", "faithfulness"): 4}
    newest = sorted((i["provenance"]["date"] for i in items if i["tags"]["failure_mode"] == "helpfulness"
                     and i["tags"]["route"] == "/orders"), reverse=True)[:5]
    assert sorted((i["provenance"]["date"] for i in kept if i["tags"]["route"] == "/orders"
                   and i["tags"]["failure_mode"] == "helpfulness"), reverse=True) == newest
    assert len(removed) == len(items) - 12 and "size cap 12: route=/orders, failure_mode=helpfulness keeps its 5 " \
        "newest" in {entry["reason"] for entry in removed}


def test_splits_are_drawn_per_conversation_so_nothing_leaks():
    settings = GoldenSettings(held_out_share=0.3)
    queue = [queued(i, session=f"session-{i // 4}") for i in range(400)]
    result = refresh(None, failures(queue, settings), settings)
    splits = {item["split"] for item in result.items}
    assert splits == {HELD_OUT, REGRESSION}
    assert 0.2 < sum(item["split"] == HELD_OUT for item in result.items) / len(result.items) < 0.4
    assert splits_leak(result.items, settings.near_duplicate_jaccard) == []
    leaky = [result.items[0] | {"split": HELD_OUT}, result.items[0] | {"id": "gold-copy", "split": REGRESSION}]
    assert len(splits_leak(leaky, settings.near_duplicate_jaccard)) == 2  # same conversation, and a twin


def test_versions_are_immutable_and_the_manifest_records_the_diff(tmp_path):
    settings = GoldenSettings()
    v1 = write_version(tmp_path, None, refresh(None, failures([queued(1), queued(2)], settings), settings),
                       settings, NOW, "test")
    before = v1.path.read_bytes()
    result = refresh(v1, failures([queued(1), queued(2), queued(3)], settings), settings)
    v2 = write_version(tmp_path, v1, result, settings, NOW, "golden_refresh_sensor")
    assert (v1.version, v2.version) == (1, 2) and v1.path.read_bytes() == before
    manifest = json.loads(manifest_path(tmp_path, 2).read_text())
    assert manifest["parent"] == 1 and manifest["counts"]["items"] == 3
    assert manifest["trigger"] == "golden_refresh_sensor"
    assert [entry["id"] for entry in manifest["added"]] == ["gold-s0003"]
    assert manifest["considered"] == ["s0001", "s0002", "s0003"]
    assert latest_version(tmp_path).version == 2
    with pytest.raises(FileExistsError, match="never overwritten"):
        write_version(tmp_path, v1, result, settings, NOW, "a concurrent refresh")
    assert v1.path.read_bytes() == before and latest_version(tmp_path).version == 2


def test_pending_counts_only_failures_no_refresh_has_considered(tmp_path):
    settings = GoldenSettings()
    all_failures = failures([queued(1), queued(2, question="where is my parcel 1 it was due on monday please"),
                             queued(3, question="where is my parcel 2 it was due on monday please")], settings)
    assert len(pending_failures(all_failures, None)) == 3
    v1 = write_version(tmp_path, None, refresh(None, all_failures, settings), settings, NOW, "test")
    assert len(v1.manifest["rejected"]) == 1  # the near-duplicate is considered too: it must not re-trigger
    assert pending_failures(all_failures, v1) == []
    assert [item["id"] for item in pending_failures(all_failures + failures([queued(4)], settings), v1)] == \
        ["gold-s0004"]
