"""Property-based fuzzing of the ingestion: landing files made of valid control lines and hostile lines
(truncated, retyped, deeply nested, huge, out-of-range, non-UTF-8, line-separator characters, garbage).
Whatever the hostile lines are, the build never fails, every control call comes out as a row with its
content intact, every quarantine row points at a line of the file, and building twice gives the same rows.

Run more examples with ``pytest eval_pipelines_tests/test_ingestion_fuzz.py --hypothesis-profile=deep``.
"""

import json
from datetime import UTC, datetime

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from eval_pipelines.ingestion import build_hours
from eval_pipelines.landing import LandingIndex
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.settings import load_ingestion_settings, load_price_table
from eval_pipelines_tests.builders import T0, latest_llm_attributes, span, traces_request

HOUR = T0 // HOUR_NS
INGESTION, PRICES = load_ingestion_settings(), load_price_table()


def control_line(number: int) -> bytes:
    attributes = latest_llm_attributes(question=f"control question {number}", answer=f"control answer {number}")
    request = traces_request(span(f"{number + 1:016x}", trace_id=f"{number + 1:032x}", start_s=10 + number,
                                  attributes=attributes))
    return json.dumps(request).encode()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


def _replace_at(value, path: list[int], replacement):
    """``value`` with the node reached by walking ``path`` (indices into dict values / list items) replaced."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    key, child = items[path[0] % len(items)]
    changed = _replace_at(child, path[1:], replacement)
    if isinstance(value, dict):
        return {**value, key: changed}
    return [changed if i == key else item for i, item in enumerate(value)]


@st.composite
def hostile_line(draw) -> bytes:
    base = json.loads(control_line(draw(st.integers(min_value=100, max_value=199))))
    kind = draw(st.sampled_from(["retyped", "truncated", "garbage", "deep", "separators", "huge_numbers",
                                 "invalid_utf8"]))
    if kind == "retyped":
        path = draw(st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=9))
        return json.dumps(_replace_at(base, path, draw(JSON_VALUES))).encode()
    if kind == "truncated":
        text = json.dumps(base).encode()
        return text[:draw(st.integers(min_value=1, max_value=len(text) - 1))]
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200)).replace(b"\n", b" ")
    if kind == "deep":
        depth = draw(st.integers(min_value=50, max_value=3000))
        return ('{"resourceSpans": [' + '{"a": ' * depth + "1" + "}" * depth + "]}").encode()
    if kind == "separators":
        attributes = base["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        attributes.append({"key": "note", "value": {"stringValue": "a\u2028b\u0085c\u2029d\x0b\x0ce"}})
        return json.dumps(base, ensure_ascii=False).encode()
    if kind == "huge_numbers":
        spans = base["resourceSpans"][0]["scopeSpans"][0]["spans"]
        spans[0][draw(st.sampled_from(["startTimeUnixNano", "endTimeUnixNano"]))] = str(
            draw(st.integers(min_value=2**62, max_value=2**80)))
        return json.dumps(base).encode()
    return json.dumps(base).encode()[:-3] + b"\xff\xfe" + b"}]}"


@given(hostile=st.lists(hostile_line(), min_size=1, max_size=6), controls=st.integers(min_value=1, max_value=4),
       seed=st.randoms(use_true_random=False))
def test_hostile_lines_never_fail_the_build_nor_touch_the_control_rows(tmp_path_factory, hostile, controls, seed):
    root = tmp_path_factory.mktemp("fuzz")
    lines = [control_line(n) for n in range(controls)] + hostile
    seed.shuffle(lines)
    (root / "landing").mkdir()
    (root / "landing" / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    index = LandingIndex(root / "landing", root / "index")
    index.refresh()
    builds = []
    for _ in range(2):
        with duckdb.connect() as con:
            builds.append({b.hour: b for b in build_hours(index, HOUR - 1, HOUR + 1, INGESTION, PRICES, con)})
    rows = {row["span_id"]: row for row in builds[0][HOUR].traces.to_pylist()}
    for number in range(controls):
        row = rows[f"{number + 1:016x}"]
        assert (row["input_text"], row["output_text"]) == (f"control question {number}", f"control answer {number}")
    quarantined = [q for b in builds[0].values() for q in b.quarantine.to_pylist()]
    assert all(1 <= q["source_line"] <= len(lines) for q in quarantined)
    assert [b.traces.drop(["ingested_at"]) for b in builds[0].values()] == [
        b.traces.drop(["ingested_at"]) for b in builds[1].values()]


def control_feedback(number: int) -> bytes:
    at = datetime.fromtimestamp(T0 / 1e9 + 60 + number, UTC).isoformat()
    return json.dumps({"timestamp": at, "response_id": f"resp-{number}", "kind": "rating", "value": 4, "scale": 5,
                       "comment": f"control comment {number}", "feedback_id": f"fb-control-{number}"}).encode()


@st.composite
def hostile_feedback(draw) -> bytes:
    base = json.loads(control_feedback(draw(st.integers(min_value=100, max_value=199))))
    base["feedback_id"] = f"fb-hostile-{draw(st.integers(min_value=0, max_value=10**9))}"
    kind = draw(st.sampled_from(["retyped", "truncated", "garbage", "deep"]))
    if kind == "retyped":
        for name in draw(st.lists(st.sampled_from(sorted(base)), min_size=1, unique=True)):
            base[name] = draw(JSON_VALUES | st.sampled_from(["9" * 400, "NaN", "-1e309", "\u2028", "x" * 5000]))
        return json.dumps(base, ensure_ascii=False).encode()
    if kind == "truncated":
        text = json.dumps(base).encode()
        return text[:draw(st.integers(min_value=1, max_value=len(text) - 1))]
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200)).replace(b"\n", b" ")
    depth = draw(st.integers(min_value=50, max_value=3000))
    return b'{"kind": "comment", "comment": ' + b"[" * depth + b"]" * depth + b"}"


@given(hostile=st.lists(hostile_feedback(), min_size=1, max_size=6), controls=st.integers(min_value=1, max_value=4),
       seed=st.randoms(use_true_random=False))
def test_hostile_feedback_lines_never_fail_the_build_nor_touch_the_control_feedback(tmp_path_factory, hostile,
                                                                                   controls, seed):
    root = tmp_path_factory.mktemp("fuzz")
    lines = [control_feedback(n) for n in range(controls)] + hostile
    seed.shuffle(lines)
    (root / "landing" / "feedback").mkdir(parents=True)
    (root / "landing" / "feedback" / "survey.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    index = LandingIndex(root / "landing", root / "index")
    index.refresh()
    with duckdb.connect() as con:
        built = list(build_hours(index, HOUR - 1, HOUR + 1, INGESTION, PRICES, con))
    feedback = {row["feedback_id"]: row for b in built for row in b.feedback.to_pylist()}
    for number in range(controls):
        row = feedback[f"fb-control-{number}"]
        assert (row["comment"], row["score"], row["response_id"]) == (f"control comment {number}", 0.8,
                                                                      f"resp-{number}")
    quarantined = [q["source_line"] for b in built for q in b.quarantine.to_pylist()]
    kept = [row["source_line"] for row in feedback.values()]
    assert all(1 <= line <= len(lines) for line in quarantined) and set(kept).isdisjoint(quarantined)
    assert len(kept) + len(quarantined) <= len(lines)
