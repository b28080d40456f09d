"""Offline drop-folder files: outputs and teams' results validated line by line, duplicates and bad
lines quarantined with the reason."""

import json

from eval_pipelines.offline.files import read_offline_files


def write(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


def test_good_lines_are_read_and_bad_ones_quarantined(tmp_path):
    output = {"item_id": "gold-s1", "model": "m", "prompt_version": "v7", "output_text": "Your parcel ships today."}
    result = {"item_id": "case-1", "model": "m", "prompt_version": "v7", "metric": "helpfulness", "passed": True}
    write(tmp_path / "outputs" / "v7.jsonl", output, output | {"output_text": "again"}, "{oops", [1],
          output | {"item_id": ""}, output | {"output_text": 5},
          output | {"item_id": "gold-s2", "output_text": "x" * 200_000},
          output | {"item_id": "gold-s3", "output_text": "ünïcödé ✓", "tool_calls": [{"name": "lookup"}]},
          output | {"item_id": "gold-r1", "steps": ["called lookup({})", "answered: done"]},
          output | {"item_id": "gold-r2", "steps": [{"called": "lookup"}]})
    write(tmp_path / "results" / "team" / "suite.jsonl", result, result | {"item_id": "case-2", "passed": "yes"},
          result | {"item_id": "case-3", "metric": "Helpfulness!"}, result | {"item_id": "case-4", "score": "high"},
          result | {"item_id": "case-5", "passed": False, "score": 2})
    write(tmp_path / "elsewhere" / "ignored.jsonl", output)
    found = read_offline_files(tmp_path)
    assert [(o["item_id"], len(o["output_text"])) for o in found.outputs] == [
        ("gold-s1", 24), ("gold-s2", 100_000), ("gold-s3", 9), ("gold-r1", 24)]
    assert found.outputs[2]["tool_calls"] == '[{"name": "lookup"}]'
    assert (found.outputs[0]["steps"], found.outputs[3]["steps"]) == (
        None, "Step 1: called lookup({})\nStep 2: answered: done")
    assert [(r["item_id"], r["passed"], r["score"]) for r in found.results] == [("case-1", True, None),
                                                                                ("case-5", False, 2.0)]
    assert [(q["source_file"], q["source_line"], q["reason"]) for q in found.quarantine] == [
        ("outputs/v7.jsonl", 2, "duplicate of outputs/v7.jsonl:1"), ("outputs/v7.jsonl", 3, "malformed JSON"),
        ("outputs/v7.jsonl", 4, "not a JSON object"), ("outputs/v7.jsonl", 5, "missing or invalid item_id"),
        ("outputs/v7.jsonl", 6, "output_text must be a string"),
        ("outputs/v7.jsonl", 10, "steps must be a string or a list of strings"),
        ("results/team/suite.jsonl", 2, "passed must be true or false"),
        ("results/team/suite.jsonl", 3, "metric 'Helpfulness!' is not a metric name (lower case, digits, _)"),
        ("results/team/suite.jsonl", 4, "score 'high' is not a number")]
