from pathlib import Path

import pytest
import yaml

from eval_pipelines.config import ConfigError
from eval_pipelines.judge import Endpoint, load_judge_settings, load_rubrics
from eval_pipelines.judge.rubrics import RUBRICS_ENV_VAR
from eval_pipelines.judge.run import judge_version

PACKAGED = {"helpfulness", "faithfulness", "instruction_following", "pairwise_preference", "conversation_resolution",
            "user_frustration", "agent_trajectory"}
ENDPOINT = Endpoint(base_url="http://127.0.0.1:1/v1", api_key="k", model="m", model_version="m-2026-01-01")


def rubric_yaml(**overrides) -> dict:
    return {"name": "tone", "version": 1, "description": "Is the tone polite?", "criteria": ["Polite wording."],
            "labels": [{"label": "polite", "meaning": "Polite.", "passed": True},
                       {"label": "rude", "meaning": "Rude.", "passed": False}], **overrides}


def write_rubric(folder: Path, data: dict, name: str = "tone") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_packaged_rubrics_load_and_a_user_folder_adds_to_them(tmp_path):
    assert set(load_rubrics()) == PACKAGED
    write_rubric(tmp_path / "rubrics", rubric_yaml())
    assert set(load_rubrics(tmp_path / "rubrics")) == PACKAGED | {"tone"}


def test_the_rubrics_variable_names_the_folder_unless_one_is_given(tmp_path, monkeypatch):
    write_rubric(tmp_path / "team", rubric_yaml())
    write_rubric(tmp_path / "other", rubric_yaml(name="brevity"), name="brevity")
    monkeypatch.setenv(RUBRICS_ENV_VAR, str(tmp_path / "team"))
    assert set(load_rubrics()) == PACKAGED | {"tone"}
    assert set(load_rubrics(tmp_path / "other")) == PACKAGED | {"brevity"}
    monkeypatch.setenv(RUBRICS_ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="rubric folder does not exist"):
        load_rubrics()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"labels": [{"label": "ok", "meaning": "x", "passed": True}, {"label": "ok", "meaning": "y", "passed": False}]},
     "labels must be unique"),
    ({"labels": [{"label": "a", "meaning": "x", "passed": False}, {"label": "b", "meaning": "y", "passed": False}]},
     "passed: true"),
    ({"score": {"min": 5, "max": 1}}, "must be below max"),
    ({"examples": [{"input": "q", "output": "a", "verdict": {"label": "great", "score": 5, "explanation": "x"}}]},
     "'great' is not one of"),
    ({"requires": ["the_weather"]}, "requires.0"),
    ({"kind": "pairwise"}, "needs the labels \\['a_better', 'b_better'\\]"),
    ({"kind": "pairwise", "labels": [{"label": "a_better", "meaning": "A", "passed": True},
                                     {"label": "b_better", "meaning": "B", "passed": False}],
      "examples": [{"input": "q", "output": "a", "verdict": {"label": "a_better", "score": 5, "explanation": "x"}}]},
     "needs output_b"),
    ({"kind": "pairwise", "unit": "session", "labels": [{"label": "a_better", "meaning": "A", "passed": True},
                                                        {"label": "b_better", "meaning": "B", "passed": False}]},
     "its unit must be call"),
    ({"unit": "conversation"}, "unit"),
])
def test_a_bad_rubric_is_an_error_naming_file_and_problem(tmp_path, overrides, message):
    path = write_rubric(tmp_path / "rubrics", rubric_yaml(**overrides))
    with pytest.raises(ConfigError, match=message) as error:
        load_rubrics(tmp_path / "rubrics")
    assert str(path) in str(error.value)


def test_a_rubric_must_live_in_a_file_named_after_it(tmp_path):
    write_rubric(tmp_path / "rubrics", rubric_yaml(), name="politeness")
    with pytest.raises(ConfigError, match="must be in a file named tone.yaml"):
        load_rubrics(tmp_path / "rubrics")


def test_settings_naming_an_unknown_rubric_are_rejected(tmp_path):
    path = tmp_path / "judge.yaml"
    path.write_text("rubrics:\n  helpfulness: ['*']\n  tone_of_voice: ['*']\n")
    with pytest.raises(ConfigError, match=r"judge.yaml:3: rubrics.tone_of_voice: unknown rubric"):
        load_judge_settings(path, load_rubrics())


def test_the_judge_version_changes_with_rubric_text_model_version_and_parameters_only():
    rubric = load_rubrics()["helpfulness"]
    base = judge_version(ENDPOINT, rubric, redact_pii=False)
    reworded = rubric.model_copy(update={"criteria": [*rubric.criteria, "Be brief."]})
    changed = [
        judge_version(ENDPOINT, reworded, False),
        judge_version(Endpoint(**{**ENDPOINT.__dict__, "model_version": "m-2026-02-01"}), rubric, False),
        judge_version(Endpoint(**{**ENDPOINT.__dict__, "temperature": 0.7}), rubric, False),
        judge_version(ENDPOINT, rubric, True),
    ]
    same = judge_version(Endpoint(**{**ENDPOINT.__dict__, "concurrency": 64, "base_url": "http://other/v1"}),
                         rubric, False)
    assert len({base, *changed}) == 5 and same == base


def test_a_pairwise_rubric_cannot_be_routed_to_production_requests(tmp_path):
    path = tmp_path / "judge.yaml"
    path.write_text("rubrics:\n  pairwise_preference: ['*']\n")
    with pytest.raises(ConfigError, match=r"judge.yaml:2: rubrics.pairwise_preference: compares two answers"):
        load_judge_settings(path, load_rubrics())
