import pytest

from eval_pipelines.parsing.feedback import MAX_COMMENT_CHARS, feedback_from_event, feedback_from_record

AT = "2026-11-21T14:05:00Z"


@pytest.mark.parametrize(("value", "label", "score"), [
    ("up", "up", 1.0), ("👎", "down", 0.0), ("THUMBS_DOWN", "down", 0.0), (1, "up", 1.0), (False, "down", 0.0),
])
def test_thumbs_values_in_many_spellings(value, label, score):
    record = feedback_from_record({"timestamp": AT, "response_id": "r1", "kind": "thumbs", "value": value})
    assert (record["label"], record["score"]) == (label, score)


@pytest.mark.parametrize(("record", "reason"), [
    ({"timestamp": AT, "response_id": "r", "kind": "thumbs", "value": "meh"}, "neither up nor down"),
    ({"timestamp": AT, "response_id": "r", "kind": "rating", "value": 9, "scale": 5}, "outside 0..5"),
    ({"timestamp": AT, "response_id": "r", "kind": "rating", "value": "NaN"}, "outside"),
    ({"timestamp": AT, "response_id": "r", "kind": "rating", "value": "five"}, "is not a number"),
    ({"timestamp": AT, "response_id": "r", "kind": "vote", "value": 1}, "unknown feedback kind 'vote'"),
    ({"timestamp": AT, "kind": "thumbs", "value": "up"}, "names no response_id, span_id or trace_id"),
    ({"timestamp": "yesterday", "response_id": "r", "kind": "thumbs", "value": "up"}, "without a valid timestamp"),
    ({"timestamp": AT, "response_id": "r", "kind": "comment", "comment": "   "}, "comment feedback without text"),
])
def test_unreadable_feedback_is_a_reason_not_a_row(record, reason):
    result = feedback_from_record(record)
    assert isinstance(result, str) and reason in result


def test_ratings_are_scaled_and_comments_bounded():
    rating = feedback_from_record({"timestamp": 1795269900, "span_id": "AB" * 8, "kind": "rating", "value": 4,
                                   "scale": 5, "comment": "<b>ok</b> " + "x" * 10_000, "user_id": "u1"})
    assert rating["score"] == 0.8 and rating["span_id"] == "ab" * 8 and rating["user_id"] == "u1"
    assert len(rating["comment"]) == MAX_COMMENT_CHARS and rating["comment"].startswith("<b>ok</b>")
    assert rating["time_ns"] == 1795269900 * 10**9 and rating["source"] == "feedback_file"


def test_the_same_feedback_landed_twice_gets_the_same_id():
    line = {"timestamp": AT, "response_id": "r1", "kind": "thumbs", "value": "down"}
    assert feedback_from_record(line)["feedback_id"] == feedback_from_record(dict(line))["feedback_id"]
    assert feedback_from_record({**line, "feedback_id": "given"})["feedback_id"] == "given"


def test_phoenix_span_annotations_are_read():
    annotation = {"span_id": "01" * 8, "name": "user_feedback", "annotator_kind": "HUMAN",
                  "result": {"label": "thumbs_down", "score": 0, "explanation": "wrong order"}, "created_at": AT}
    record = feedback_from_record(annotation)
    assert (record["kind"], record["label"], record["comment"], record["source"]) == (
        "thumbs", "down", "wrong order", "annotation_file")
    scored = feedback_from_record({**annotation, "result": {"label": "helpful", "score": 0.75}})
    assert (scored["kind"], scored["score"]) == ("rating", 0.75)


def test_span_events_link_by_their_span_and_response_ids():
    record = feedback_from_event({"feedback.kind": "thumbs", "feedback.value": "down", "gen_ai.response.id": "r9",
                                  "feedback.comment": "Ünïcödé 🙃"}, 5, "ab" * 8, "cd" * 16, "trace_event")
    assert (record["span_id"], record["trace_id"], record["response_id"]) == ("ab" * 8, "cd" * 16, "r9")
    assert record["comment"] == "Ünïcödé 🙃"
