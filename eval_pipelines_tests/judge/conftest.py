from collections.abc import Iterator
from dataclasses import replace

import pytest

from eval_pipelines.judge import Endpoint, load_rubrics
from eval_pipelines.standin.judge import judge_persona
from eval_pipelines.standin.server import Faults, StandinServer

JUDGE_MODEL = "standin-judge-2026-11-01"


def endpoint_for(server: StandinServer, **overrides) -> Endpoint:
    """The client settings the tests use: fast backoff so retries take milliseconds."""
    base = Endpoint(base_url=server.base_url, api_key="test-key-do-not-log", model=JUDGE_MODEL,
                    model_version=JUDGE_MODEL, timeout_s=5, concurrency=4, backoff_initial_s=0.01,
                    backoff_max_s=0.05, breaker_reset_s=60)
    return replace(base, **overrides)


def judge_server(**faults) -> StandinServer:
    return StandinServer(judge_persona, Faults(**faults))


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with judge_server() as running:
        yield running


@pytest.fixture(scope="session")
def rubrics():
    return load_rubrics()
