import pytest

from eval_pipelines.config import ConfigError
from eval_pipelines.settings import load_ingestion_settings, load_price_table
from eval_pipelines.validation.rules import load_validation_settings


def test_packaged_defaults_load():
    assert load_ingestion_settings().extra_dimensions == ["prompt_name", "feature_flag", "session_end"]
    assert load_price_table().price_for("gpt-4o-mini-2024-07-18").input_per_million == 0.15
    assert load_price_table().price_for("gpt-4o-2024-08-06").input_per_million == 2.5
    assert load_price_table().price_for("mystery-model") is None
    assert load_validation_settings().max_tokens > 0


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  gpt-x: {input_per_million: 1\n")
    with pytest.raises(ConfigError, match=r"prices.yaml:\d+: not valid YAML"):
        load_price_table(path)


def test_wrong_value_names_the_line_and_field(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  gpt-x:\n    input_per_million: 1\n    output_per_million: -2\n")
    with pytest.raises(ConfigError, match=r"prices.yaml:4: models.gpt-x.output_per_million: .*greater than"):
        load_price_table(path)


def test_missing_required_dimension_and_unknown_keys(tmp_path):
    path = tmp_path / "ingestion.yaml"
    path.write_text("dimensions:\n  route: [app.route]\nsession_id: [s]\nuser_id: [u]\nenvironment: [e]\ntypo: 1\n")
    with pytest.raises(ConfigError) as error:
        load_ingestion_settings(path)
    expected = "ingestion.yaml:2: dimensions: Value error, missing required dimension(s): prompt_version"
    assert expected in str(error.value)
    assert "ingestion.yaml:6: typo: Extra inputs are not permitted" in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_price_table(tmp_path / "nope.yaml")
