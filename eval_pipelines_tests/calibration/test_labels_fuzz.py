"""Property-based fuzzing of reviewers' label files: JSONL with hostile lines of any bytes, and CSV (in every
dialect read) with hostile values in its cells, each beside valid control labels. Whatever the hostile rows are,
reading never fails, every control label comes out intact, and every row is a label, a quarantine row or a
counted unfilled template row.

Run more examples with ``pytest eval_pipelines_tests/calibration/test_labels_fuzz.py --hypothesis-profile=deep``.
"""

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from eval_pipelines.calibration.labels import read_label_files
from eval_pipelines.judge import load_rubrics

RUBRICS = load_rubrics()
FIELDS = ["item_id", "rubric", "label", "score", "reviewer_id", "timestamp", "comment"]


def control(number: int) -> dict[str, str]:
    return {"item_id": f"control-{number}", "rubric": "helpfulness", "label": "helpful", "score": "",
            "reviewer_id": "ana", "timestamp": "2026-11-21T10:00:00Z", "comment": f"control {number}"}


HOSTILE_TEXT = st.text(max_size=40) | st.sampled_from([
    "", " ", "x" * 5000, "1e309", "-0", "NaN", "9" * 400, "2026-13-45T99:99:99Z", "\u2028", "\ufeff", '"', "\r\n",
    ";", "\t", ",", "=cmd|' /C calc'!A0", "<script>alert(1)</script>", "None", "null", "[]", "{}"])


@st.composite
def hostile_row(draw) -> dict[str, str]:
    """A label row about a hostile item (never a control's), with any of its fields replaced by hostile text."""
    row = {**control(0), "item_id": f"hostile-{draw(st.integers(0, 10**6))}"}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=len(FIELDS), unique=True)):
        row[name] = draw(HOSTILE_TEXT)
    return row


def accounted_for(built, controls: int, rows: int) -> None:
    """Control labels intact; a row is a label, a quarantine row, an unfilled template row or superseded."""
    kept = {row["item_id"]: row for row in built.labels.to_pylist()}
    for n in range(controls):
        assert (kept[f"control-{n}"]["label"], kept[f"control-{n}"]["comment"]) == ("helpful", f"control {n}")
    quarantined = built.quarantine.column("source_line").to_pylist()
    labelled = built.labels.column("source_line").to_pylist()
    assert len(set(quarantined)) == len(quarantined) and set(labelled).isdisjoint(quarantined)
    assert built.labels.num_rows + len(quarantined) + built.unlabelled <= rows


@given(rows=st.lists(hostile_row() | st.binary(max_size=80).map(lambda raw: raw.replace(b"\n", b" ")), max_size=8),
       controls=st.integers(1, 3), seed=st.randoms(use_true_random=False))
def test_hostile_jsonl_lines_never_fail_the_read_nor_touch_the_control_labels(tmp_path_factory, rows, controls, seed):
    lines = [json.dumps(control(n)).encode() for n in range(controls)]
    lines += [row if isinstance(row, bytes) else json.dumps(row, ensure_ascii=False).encode() for row in rows]
    seed.shuffle(lines)
    path = tmp_path_factory.mktemp("labels") / "labels.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    built = read_label_files([(path, "labels.jsonl")], RUBRICS)
    accounted_for(built, controls, len(lines))
    assert all(1 <= line <= len(lines) for line in built.quarantine.column("source_line").to_pylist())


@given(rows=st.lists(hostile_row(), max_size=8), controls=st.integers(1, 3), seed=st.randoms(use_true_random=False),
       delimiter=st.sampled_from([",", ";", "\t"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_hostile_csv_values_in_any_dialect_never_fail_the_read_nor_touch_the_control_labels(
        tmp_path_factory, rows, controls, seed, delimiter, encoding):
    rows = [control(n) for n in range(controls)] + rows
    seed.shuffle(rows)
    text = io.StringIO()
    writer = csv.DictWriter(text, FIELDS, delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path_factory.mktemp("labels") / "labels.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    built = read_label_files([(path, "labels.csv")], RUBRICS)
    accounted_for(built, controls, len(rows))
