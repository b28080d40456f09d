import pytest

from eval_pipelines_tests.evaluators.requests import config_yaml, request

SCHEMA = {"type": "object", "required": ["intent"], "properties": {"intent": {"enum": ["order", "other"]}},
          "additionalProperties": False}


@pytest.mark.parametrize(("answer", "valid"), [
    ('{"intent": "order"}', True), ("[1, 2]", True), ('"just a string"', True),
    ('{"intent": "order"', False), ("", False), ("Sure! {\"intent\": 1}", False),
    ('{"note": "<b>héllo</b> 👍"}', True),
])
def test_json_valid(score, answer, valid):
    row = score([request("s", answer)], config_yaml(json_valid={}))[("s", "json_valid")]
    assert row["passed"] is valid and row["label"] == ("valid" if valid else "invalid")
    assert (row["explanation"] is None) if valid else row["explanation"]


def test_json_valid_can_accept_a_code_fence(score):
    fenced = '```json\n{"intent": "order"}\n```'
    assert not score([request("s", fenced)], config_yaml(json_valid={}))[("s", "json_valid")]["passed"]
    lenient = config_yaml(json_valid={"strip_code_fences": True})
    assert score([request("s", fenced)], lenient)[("s", "json_valid")]["passed"]


@pytest.mark.parametrize(("answer", "label", "explanation"), [
    ('{"intent": "order"}', "conforms", None),
    ('{"intent": "refund"}', "violates", "intent: "),
    ('{"intent": "order", "extra": 1}', "violates", "(root): "),
    ('{}', "violates", '(root): "intent" is a required property'),
    ("not json", "invalid_json", "not JSON: "),
])
def test_json_schema_explains_the_first_violation(score, answer, label, explanation):
    row = score([request("s", answer)], config_yaml(json_schema={"schema": SCHEMA}))[("s", "json_schema")]
    assert row["label"] == label and row["passed"] == (label == "conforms")
    assert row["explanation"] is None if explanation is None else row["explanation"].startswith(explanation)


def test_json_schema_runs_only_on_its_route(score):
    config = config_yaml(routes={"/classify": {"json_schema": {"schema": SCHEMA}}})
    rows = score([request("c", '{"intent": "x"}', route="/classify"), request("o", "free text", route="/orders")],
                 config)
    assert rows[("c", "json_schema")]["label"] == "violates" and ("o", "json_schema") not in rows


def test_regex_checks_are_named_and_full_match_by_default(score):
    config = config_yaml(regex_format={"checks": {
        "order_id": {"pattern": "ORD-[0-9]{5}"},
        "mentions_tracking": {"pattern": "tracking", "match": "search"}}})
    rows = score([request("a", "ORD-12345"), request("b", "Your id is ORD-12345 and the tracking link")], config)
    assert rows[("a", "regex_format.order_id")]["passed"] and not rows[("b", "regex_format.order_id")]["passed"]
    assert rows[("b", "regex_format.mentions_tracking")]["passed"]
    assert not rows[("a", "regex_format.mentions_tracking")]["passed"]
