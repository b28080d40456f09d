"""A team's own evaluators (``eval_pipelines_tests.evaluators.team_checks``) named in evaluators.yaml: run on every
request of their routes beside the packaged ones, per row or vectorised; their failures become result rows."""

import pytest
import yaml

from eval_pipelines.config import ConfigError
from eval_pipelines.evaluators.config import load_evaluator_config
from eval_pipelines.evaluators.custom import ERROR_LABEL
from eval_pipelines_tests.evaluators.requests import request

TEAM = "eval_pipelines_tests.evaluators.team_checks"


def custom(**entries: dict) -> str:
    return yaml.safe_dump({"defaults": {"refusal": {}}, "custom": entries})


REQUESTS = [request("a", "Order 48213 ships today.", "Where is order 48213?"),
            request("b", "It ships today.", "Can I get a refund?", route="/refunds"),
            request("c", None, "Hello?", route=None)]


def test_team_evaluators_score_every_request_beside_the_packaged_ones(score):
    scores = score(REQUESTS, custom(
        mentions_a_number={"function": f"{TEAM}:mentions_a_number", "per_row": True, "settings": {"min_digits": 5}},
        answer_length_ratio={"function": f"{TEAM}:answer_length_ratio", "version": 3}))
    assert {span for span, evaluator in scores if evaluator == "refusal"} == {"a", "b", "c"}
    number = {span: row for (span, evaluator), row in scores.items() if evaluator == "mentions_a_number"}
    assert (number["a"]["passed"], number["a"]["label"], number["a"]["explanation"]) == (True, "number",
                                                                                         "found 48213")
    assert number["b"]["passed"] is False and number["c"]["passed"] is False
    ratio = {span: row for (span, evaluator), row in scores.items() if evaluator == "answer_length_ratio"}
    assert ratio["a"]["score"] == pytest.approx(len("Order 48213 ships today.") / len("Where is order 48213?"))
    assert ratio["a"]["evaluator_version"] == 3 and ratio["a"]["route"] == "/chat"


def test_routes_restrict_a_team_evaluator(score):
    scores = score(REQUESTS, custom(mentions_a_number={"function": f"{TEAM}:mentions_a_number", "per_row": True,
                                                       "routes": ["/ref*"]}))
    assert [span for span, evaluator in scores if evaluator == "mentions_a_number"] == ["b"]


def test_a_failing_or_misbehaving_team_evaluator_gives_error_rows_and_the_rest_goes_on(score):
    scores = score(REQUESTS, custom(
        fails_on_refunds={"function": f"{TEAM}:fails_on_refunds", "per_row": True},
        returns_nonsense={"function": f"{TEAM}:returns_nonsense"}))
    failing = {span: row for (span, evaluator), row in scores.items() if evaluator == "fails_on_refunds"}
    assert failing["a"]["passed"] is True and failing["b"]["label"] == ERROR_LABEL
    assert failing["b"]["explanation"] == "RuntimeError: refund questions are not handled yet"
    nonsense = [row for (_, evaluator), row in scores.items() if evaluator == "returns_nonsense"]
    assert len(nonsense) == 3 and all(row["label"] == ERROR_LABEL and "rid of a request given" in row["explanation"]
                                      for row in nonsense)
    assert {span for span, evaluator in scores if evaluator == "refusal"} == {"a", "b", "c"}


@pytest.mark.parametrize(("entries", "message"), [
    ({"late": {"function": "no_such_team_package.checks:late"}}, "cannot import 'no_such_team_package.checks'"),
    ({"late": {"function": f"{TEAM}:NOT_A_FUNCTION"}}, "has no function 'NOT_A_FUNCTION'"),
    ({"late": {"function": f"{TEAM}.mentions_a_number"}}, "is not a function reference"),
    ({"refusal": {"function": f"{TEAM}:mentions_a_number"}}, "is a packaged evaluator's name"),
])
def test_a_team_evaluator_that_cannot_be_loaded_is_a_config_error_naming_the_line(tmp_path, entries, message):
    path = tmp_path / "evaluators.yaml"
    path.write_text(custom(**entries))
    with pytest.raises(ConfigError, match=message) as error:
        load_evaluator_config(path)
    assert f"{path}:" in str(error.value)
