"""Review exports: label templates that come back through labels/ as they are, Label Studio's formats,
and hostile trace content kept inert (spreadsheet formulas, XML in rubric names)."""

import csv
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from eval_pipelines.calibration.labels import read_label_files
from eval_pipelines.judge import load_judge_settings, load_rubrics
from eval_pipelines.review.export import export_queue, label_studio_config, label_studio_records

HOSTILE = "=HYPERLINK(\"http://evil.example\",\"click\") <script>alert(1)</script>"


@pytest.fixture(scope="module")
def rubrics():
    return load_rubrics()


def queue_item(i: int, route: str = "/orders", question: str = "Where is my parcel?") -> dict:
    return {"span_id": f"s{i}", "trace_id": f"t{i}", "start_time": datetime(2026, 11, 21, 14, tzinfo=UTC),
            "route": route, "prompt_version": "v7", "model": "m", "input_text": question,
            "output_text": "I cannot help with that.", "retrieved_context": None, "reasons": ["judge_fail"],
            "priority": 2, "control": i == 0, "alert_keys": [], "judge_verdicts": "[]"}


@pytest.fixture
def exported(tmp_path, rubrics):
    queue = [queue_item(0), queue_item(1, question=HOSTILE), queue_item(2, route="/chat")]
    settings = load_judge_settings(rubrics=rubrics)
    return queue, export_queue(queue, tmp_path / "out", "review", rubrics, settings.rubrics_for_route)


def test_filled_templates_in_jsonl_and_csv_come_back_as_labels_and_empty_rows_are_skipped(exported, rubrics, tmp_path):
    queue, paths = exported
    templates = [json.loads(line) for line in paths["jsonl"].read_text().splitlines()]
    assert {row["rubric"] for row in templates} == {"helpfulness", "faithfulness", "instruction_following"}
    assert len(templates) == 3 * len(queue) and all(row["label"] == "" for row in templates)
    filled_jsonl = tmp_path / "ana.jsonl"
    filled_jsonl.write_text("".join(json.dumps(row | {"label": "unhelpful", "reviewer_id": "ana",
                                                      "timestamp": "2026-11-21T18:00:00Z"} if row["rubric"] ==
                                               "helpfulness" else row) + "\n" for row in templates))
    with paths["csv"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["rubric"] == "helpfulness":
            row.update(label="helpful", reviewer_id="ben", timestamp="2026-11-21T18:00:00Z", comment="fine")
    filled_csv = tmp_path / "ben.csv"
    with filled_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    built = read_label_files([(filled_jsonl, "ana.jsonl"), (filled_csv, "ben.csv")], rubrics)
    labels = built.labels.to_pylist()
    assert built.quarantine.num_rows == 0 and built.unlabelled == 2 * 2 * len(queue)
    assert sorted((r["reviewer_id"], r["item_id"], r["label"]) for r in labels) == sorted(
        [("ana", f"s{i}", "unhelpful") for i in range(3)] + [("ben", f"s{i}", "helpful") for i in range(3)])
    assert {r["comment"] for r in labels if r["reviewer_id"] == "ben"} == {"fine"}


def test_csv_cells_that_look_like_formulas_are_kept_as_text(exported):
    _, paths = exported
    with paths["csv"].open(newline="") as handle:
        inputs = {row["item_id"]: row["input_text"] for row in csv.DictReader(handle)}
    assert inputs["s1"] == "'" + HOSTILE and inputs["s0"] == "Where is my parcel?"


def test_label_studio_tasks_carry_the_item_and_the_config_escapes_names(exported, rubrics):
    queue, paths = exported
    tasks = json.loads(paths["label_studio"].read_text())
    assert [task["data"]["span_id"] for task in tasks] == ["s0", "s1", "s2"]
    assert tasks[1]["data"]["input_text"] == HOSTILE and tasks[0]["data"]["control"] is True
    config = ET.fromstring(paths["label_studio_config"].read_text())
    assert {c.get("name") for c in config.iter("Choices")} == {"helpfulness", "faithfulness", "instruction_following"}
    hostile = rubrics["helpfulness"].model_copy(update={"name": 'x"/><Script a="'})  # names are validated; still
    parsed = ET.fromstring(label_studio_config([hostile]))
    assert [c.get("name") for c in parsed.iter("Choices")] == ['x"/><Script a="'] and not list(parsed.iter("Script"))


def test_label_studio_exports_give_one_label_per_choice_and_skip_cancelled_annotations():
    tasks = [{"id": 1, "data": {"span_id": "s1"}, "annotations": [
        {"completed_by": 12, "updated_at": "2026-11-21T18:05:00Z", "created_at": "2026-11-21T18:00:00Z",
         "result": [{"from_name": "helpfulness", "type": "choices", "value": {"choices": ["unhelpful"]}},
                    {"from_name": "comment", "type": "textarea", "value": {"text": ["Give the status."]}}]},
        {"completed_by": {"email": "eve@example.com"}, "was_cancelled": True, "result": [
            {"from_name": "helpfulness", "type": "choices", "value": {"choices": ["helpful"]}}]}]},
        "not a task"]
    assert list(label_studio_records(tasks)) == [
        (1, {"item_id": "s1", "rubric": "helpfulness", "label": "unhelpful", "reviewer_id": "12",
             "timestamp": "2026-11-21T18:05:00Z", "comment": "Give the status."}),
        (2, "task without data")]
