from pathlib import Path

import pytest

from eval_pipelines.config import ConfigError
from eval_pipelines.evaluators.config import load_evaluator_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "evaluators.yaml"
    path.write_text(text)
    return path


def test_packaged_defaults_load_and_configure_the_demo_routes():
    config = load_evaluator_config()
    assert "json_schema" in config.block_for("/classify").enabled()
    assert "json_schema" not in config.block_for("/chat").enabled()
    assert "language_match" not in config.block_for("/classify").enabled()
    assert config.block_for(None) == config.defaults


def test_route_entries_override_field_by_field_and_exact_routes_beat_globs(tmp_path):
    config = load_evaluator_config(write(tmp_path, """
defaults:
  answer_chars: {min: 5, max: 100}
routes:
  "/orders*": {answer_chars: {max: 10}}
  /orders/v2: {answer_chars: {enabled: false}}
"""))
    orders = config.block_for("/orders/v1").answer_chars
    assert (orders.min, orders.max) == (5, 10)
    assert "answer_chars" not in config.block_for("/orders/v2").enabled()
    assert config.block_for("/chat").answer_chars.max == 100


@pytest.mark.parametrize(("text", "line", "message"), [
    ("defaults:\n  refusl: {}\n", 2, "defaults.refusl: Extra inputs are not permitted"),
    ("defaults:\n  refusal:\n    patterns: ['(?=lookahead)']\n", 3, "not a valid RE2 regular expression"),
    ("defaults:\n  answer_chars: {min: 50, max: 5}\n", 2, "min (50) is greater than max (5)"),
    ("routes:\n  /x:\n    json_schema:\n      schema: {type: 12}\n", 4, "not a valid JSON Schema"),
    ("routes:\n  /x:\n    json_schema: {}\n", 3, "needs a `schema`"),
    ("routes:\n  /x:\n    latency_budget: {}\n", 3, "set max_ms where this budget is enabled"),
    ("defaults:\n  citations: {pattern: 'doc-[0-9]+'}\n", 2, "needs a capture group"),
    ("defaults:\n  refusal: {phrases: ['  ']}\n", 2, "phrases must not be blank"),
    ("defaults: [\n", 2, "not valid YAML"),
])
def test_bad_config_is_a_clear_error_naming_the_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_evaluator_config(path)
    assert f"{path}:{line}:" in str(error.value) and message in str(error.value)
