"""Golden conversations and agent runs scored offline through ``dg.materialize`` and the stand-in judge over HTTP:
each candidate's answer is judged as a call, and with the rubrics of its item's unit."""

import json

import dagster as dg

from eval_pipelines.defs.offline.assets import offline_evaluation
from eval_pipelines.lake import Lake
from eval_pipelines.review.golden import items_path, manifest_path
from eval_pipelines.standin.judge import judge_persona
from eval_pipelines.standin.server import StandinServer
from eval_pipelines_tests.defs.judging.test_assets import judge_resource

TRANSCRIPT = "User: Cancel order #77.\nAssistant: Which order?\nUser: #77, I already told you.\nAssistant: Sorry."


def golden(item_id: str, unit: str, text: str, route: str) -> dict:
    return {"id": item_id, "unit": unit, "split": "regression", "input": {"text": text},
            "production_output": "", "tags": {"route": route}, "provenance": {"span_id": item_id}}


def write_golden_set(folder, items: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    items_path(folder, 1).write_text("".join(json.dumps(item) + "\n" for item in items))
    manifest_path(folder, 1).write_text("{}")


def test_golden_conversations_and_agent_runs_are_judged_whole_with_the_candidates_answer(home, resources, instance):
    write_golden_set(home.shared("golden").local(), [
        golden("gold-call", "call", "Where is my parcel?", "/chat"),
        golden("gold-session", "session", TRANSCRIPT, "/chat"),
        golden("gold-run", "agent_run", "Cancel order #77.", "/agent")])
    outputs = home.shared("offline").local() / "outputs"
    outputs.mkdir(parents=True)
    candidate = {"model": "m", "prompt_version": "v8"}
    (outputs / "v8.jsonl").write_text("".join(json.dumps(candidate | line) + "\n" for line in (
        {"item_id": "gold-call", "output_text": "It ships today."},
        {"item_id": "gold-session", "output_text": "I'm sorry, I can't help with that."},
        {"item_id": "gold-run", "output_text": "Order #77 is cancelled.",
         "steps": ['called lookup_order({"order": "#77"})', 'called lookup_order({"order": "#77"})',
                   "answered: Order #77 is cancelled."]})))
    with StandinServer(judge_persona) as server:
        result = dg.materialize([offline_evaluation], instance=instance,
                                resources={**resources, "judge": judge_resource(server)})
    assert result.success
    lake = Lake(home.warehouse)
    judged = {(row["span_id"].split("\x1f")[0], row["rubric"]): row["label"] for row in lake.read_partition(
        "offline_judge_scores", "snapshot", "current").to_pylist()}
    # Every answer is judged as a call; a conversation's and an agent run's also as the whole unit.
    assert set(judged) == {("gold-call", "helpfulness"), ("gold-session", "helpfulness"),
                           ("gold-session", "conversation_resolution"), ("gold-session", "user_frustration"),
                           ("gold-run", "helpfulness"), ("gold-run", "agent_trajectory")}
    # The candidate's refusal in place of the last answer leaves the goal unmet, and the user was frustrated.
    assert (judged["gold-session", "conversation_resolution"], judged["gold-session", "user_frustration"]) == (
        "unresolved", "frustrated")
    # The candidate's own steps repeat a call.
    assert judged["gold-run", "agent_trajectory"] == "inefficient"
    metrics = {(row["item_id"], row["metric"]) for row in lake.read_partition(
        "offline_scores", "snapshot", "current").to_pylist() if row["source"] == "golden_v1"}
    assert {("gold-session", "conversation_resolution"), ("gold-run", "agent_trajectory")} <= metrics
