import json

import pytest

from eval_pipelines.calibration.labels import read_label_files, resolve
from eval_pipelines.judge import load_rubrics


@pytest.fixture(scope="module")
def rubrics():
    return load_rubrics()


def label(item="span-1", rubric="helpfulness", value="helpful", reviewer="ana", when="2026-11-21T10:00:00Z", **extra):
    return {"item_id": item, "rubric": rubric, "label": value, "reviewer_id": reviewer, "timestamp": when, **extra}


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_good_rows_are_kept_and_bad_rows_quarantined_with_reasons(tmp_path, rubrics):
    path = write_jsonl(tmp_path / "batch.jsonl", [
        label(), label(item="span-2", value=None, score=4), label(value="Partially Helpful", item="span-3"),
        "{not json", "[1, 2]", label(rubric="tone"), label(value="excellent"), label(item=""),
        label(reviewer=None), label(value=None), label(value=None, score=9), label(when="yesterday"),
        label(value=None, score="high"), label(item="x" * 500),
    ])
    built = read_label_files([(path, "batch.jsonl")], rubrics)
    assert sorted(built.labels.column("item_id").to_pylist()) == ["span-1", "span-2", "span-3"]
    assert built.labels.column("label").to_pylist()[2] == "partially_helpful"
    quarantine = built.quarantine.to_pydict()
    reasons = dict(zip(quarantine["source_line"], quarantine["reason"], strict=True))
    assert reasons == {
        4: "malformed JSON", 5: "not a JSON object", 6: "unknown rubric 'tone' (known: agent_trajectory, "
        "conversation_resolution, faithfulness, helpfulness, instruction_following, pairwise_preference, "
        "user_frustration)", 7: "label 'excellent' is not one of "
        "['helpful', 'partially_helpful', 'unhelpful']",
        8: "missing or invalid item_id", 9: "missing reviewer_id", 10: "neither label nor score",
        11: "score 9 is outside 1..5", 12: "timestamp 'yesterday' is not ISO 8601",
        13: "score 'high' is not a number", 14: "missing or invalid item_id"}


def test_csv_files_are_read_with_the_same_rules(tmp_path, rubrics):
    path = tmp_path / "review.csv"
    path.write_text("span_id,rubric,label,score,reviewer,timestamp,comment\n"
                    "span-1,faithfulness,faithful,5,ana,2026-11-21T10:00:00+01:00,\"good, cites kb-7\"\n"
                    "span-2,faithfulness,made_up,,ana,2026-11-21T10:00:00Z,\n")
    built = read_label_files([(path, "review.csv")], rubrics)
    (row,) = built.labels.to_pylist()
    assert (row["item_id"], row["score"], row["comment"], row["labelled_at"].hour) == ("span-1", 5.0,
                                                                                      "good, cites kb-7", 9)
    assert built.quarantine.column("source_line").to_pylist() == [3]


def test_a_reviewer_relabelling_an_item_supersedes_their_earlier_label(tmp_path, rubrics):
    first = write_jsonl(tmp_path / "a.jsonl", [label(value="unhelpful", when="2026-11-21T10:00:00Z")])
    second = write_jsonl(tmp_path / "b.jsonl", [label(value="helpful", when="2026-11-22T10:00:00Z")])
    built = read_label_files([(second, "b"), (first, "a")], rubrics)
    assert built.labels.column("label").to_pylist() == ["helpful"]


def test_several_reviewers_resolve_by_majority_and_ties_are_flagged(tmp_path, rubrics):
    path = write_jsonl(tmp_path / "labels.jsonl", [
        label(item="maj", reviewer="ana", score=5), label(item="maj", reviewer="ben", score=4),
        label(item="maj", reviewer="chen", value="unhelpful", score=1),
        label(item="tie", reviewer="ana"), label(item="tie", reviewer="ben", value="unhelpful"),
    ])
    resolved = {row["item_id"]: row for row in resolve(read_label_files([(path, "l")], rubrics).labels).to_pylist()}
    assert (resolved["maj"]["label"], resolved["maj"]["passed"], resolved["maj"]["score"],
            resolved["maj"]["reviewers"], resolved["maj"]["tie"]) == ("helpful", True, 4.0, 3, False)
    assert (resolved["tie"]["label"], resolved["tie"]["tie"], resolved["tie"]["labels"]) == (
        None, True, ["helpful", "unhelpful"])


CSV_ROWS = [["item_id", "rubric", "label", "reviewer_id", "timestamp"],
            ["span-1", "helpfulness", "helpful", "ana", "2026-11-21T10:00:00Z"],
            ["span-2", "helpfulness", "unhelpful", "ana", "2026-11-21T10:05:00Z"]]


@pytest.mark.parametrize(("encoding", "separator"), [
    ("utf-8", ","), ("utf-8-sig", ","), ("utf-8-sig", ";"), ("utf-16", "\t"), ("utf-16", ";")],
    ids=["plain", "excel-bom", "excel-semicolons", "excel-unicode-text", "utf16-semicolons"])
def test_csv_label_files_in_the_common_dialects_are_read(tmp_path, rubrics, encoding, separator):
    path = tmp_path / "labels.csv"
    path.write_bytes("\r\n".join(separator.join(row) for row in CSV_ROWS).encode(encoding))
    built = read_label_files([(path, "labels.csv")], rubrics)
    assert sorted(built.labels.column("item_id").to_pylist()) == ["span-1", "span-2"]
    assert built.quarantine.num_rows == 0 and built.unlabelled == 0


def test_a_csv_without_label_columns_is_quarantined_not_skipped_as_empty_templates(tmp_path, rubrics):
    path = tmp_path / "export.csv"
    path.write_text("when|who|what\n2026-11-21|ana|helpful\n")
    built = read_label_files([(path, "export.csv")], rubrics)
    (reason,) = built.quarantine.column("reason").to_pylist()
    assert built.labels.num_rows == 0 and built.unlabelled == 0 and "no label columns" in reason
