import pytest

from eval_pipelines.judge.replies import parse_reply


@pytest.fixture
def helpfulness(rubrics):
    return rubrics["helpfulness"]


@pytest.mark.parametrize(("reply", "shape"), [
    ('{"explanation": "Gives the steps.", "label": "helpful", "score": 5}', "json"),
    ('Here you go:\n```json\n{"explanation": "Gives the steps.", "label": "helpful", "score": 5}\n```', "fenced_json"),
    ('My verdict is {"label": "helpful", "score": 5, "explanation": "Gives the steps."} as requested.',
     "embedded_json"),
    ("Label: helpful\nScore: 5\nThe answer gives the steps.", "text_label"),
    ('{"explanation": "Gives the steps.", "label": "Helpful", "score": "5"}', "json"),
])
def test_every_reply_shape_yields_the_same_verdict(helpfulness, reply, shape):
    parsed = parse_reply(reply, helpfulness)
    assert (parsed.status, parsed.parse_status, parsed.label, parsed.score, parsed.passed) == (
        "ok", shape, "helpful", 5.0, True)


def test_a_label_is_normalised_to_the_rubric_spelling(helpfulness):
    parsed = parse_reply('{"label": "Partially Helpful", "score": 3, "explanation": "x"}', helpfulness)
    assert (parsed.label, parsed.passed) == ("partially_helpful", False)


@pytest.mark.parametrize(("reply", "status", "problem"), [
    ("", "unparseable", "empty reply"),
    ('{"explanation": "cut off', "unparseable", "no JSON object"),
    ("The answer seems fine to me overall.", "unparseable", "no JSON object"),
    ("I'm sorry, but I can't help with evaluating this content.", "refused", "declined"),
    ('{"label": "excellent", "score": 5, "explanation": "x"}', "invalid", "not one of"),
    ('{"label": "helpful", "score": 11, "explanation": "x"}', "invalid", "outside 1..5"),
])
def test_replies_without_a_usable_verdict_say_why(helpfulness, reply, status, problem):
    parsed = parse_reply(reply, helpfulness)
    assert parsed.status == status and problem in parsed.problem and parsed.passed is None
