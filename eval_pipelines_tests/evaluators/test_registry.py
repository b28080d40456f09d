"""An evaluator is one module: its function, settings model and SLI; the configuration and the SLIs follow."""

import sys
import textwrap

import pytest

from eval_pipelines.evaluators.config import EvaluatorBlock
from eval_pipelines.evaluators.registry import EVALUATORS, discover
from eval_pipelines.monitoring.slis import KNOWN_SLIS, RATES

MODULE = '''
from eval_pipelines.evaluators.base import Batch, Evaluator, Query, Settings, Sli, single


class ShoutingSettings(Settings):
    max_share: float = 0.5


@single("shouting")
def shouting(batch: Batch, settings: ShoutingSettings) -> Query:
    return Query(f"SELECT rid, 0.0 AS score, 'calm' AS label, TRUE AS passed, NULL AS explanation FROM {batch.view}")


EVALUATORS = [Evaluator("shouting", 1, "Answers in capitals.", shouting, ShoutingSettings,
                        Sli("shouting_rate", "failed"))]
'''


@pytest.fixture
def package_with(tmp_path, monkeypatch):
    def make(name: str, *modules: str):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for index, text in enumerate(modules):
            (folder / f"module_{index}.py").write_text(textwrap.dedent(text))
        monkeypatch.syspath_prepend(str(tmp_path))
        __import__(name)
        return sys.modules[name]
    return make


def test_a_module_in_the_package_is_all_an_evaluator_needs(package_with):
    found = discover(package_with("team_evaluators", MODULE))
    assert list(found) == ["shouting"]
    assert found["shouting"].settings.__name__ == "ShoutingSettings"
    assert found["shouting"].sli.name == "shouting_rate"


def test_two_evaluators_of_one_name_are_refused(package_with):
    with pytest.raises(ValueError, match="two evaluators are named 'shouting'"):
        discover(package_with("clashing_evaluators", MODULE, MODULE))


def test_configuration_fields_and_slis_follow_from_the_registry():
    assert list(EvaluatorBlock.model_fields) == list(EVALUATORS)
    for name, evaluator in EVALUATORS.items():
        assert EvaluatorBlock.model_fields[name].annotation == evaluator.settings | None
        if evaluator.sli:
            assert evaluator.sli.name in KNOWN_SLIS
            assert f"evaluator = '{name}'" in RATES[evaluator.sli.name][2]
    assert {e.sli.name for e in EVALUATORS.values() if e.sli} == {
        "refusal_rate", "empty_rate", "json_validity", "schema_validity", "grounding_rate", "pii_leak_rate"}
