from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from eval_pipelines.evaluators import score_requests
from eval_pipelines.evaluators.config import load_evaluator_config
from eval_pipelines_tests.evaluators.requests import Scores, requests_table


@pytest.fixture
def score(tmp_path: Path) -> Callable[..., Scores]:
    """Scores crafted requests with the packaged config, or with the YAML text given."""

    def run(rows: list[dict], config: str | None = None) -> Scores:
        settings = load_evaluator_config()
        if config is not None:
            path = tmp_path / "evaluators.yaml"
            path.write_text(config)
            settings = load_evaluator_config(path)
        with duckdb.connect() as con:
            table = score_requests(requests_table(rows), settings, con)
        return {(row["span_id"], row["evaluator"]): row for row in table.to_pylist()}

    return run
