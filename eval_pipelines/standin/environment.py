"""The stand-in judge running, with the ``judge`` resource's environment variables pointed at it: the demo's and
the tests' judge."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from eval_pipelines.standin.judge import judge_persona
from eval_pipelines.standin.server import StandinServer

STANDIN_JUDGE_MODEL = "standin-judge-2026-11-01"


@contextlib.contextmanager
def standin_judge() -> Iterator[str]:
    """Runs the stand-in judge and points the ``judge`` resource's environment variables at it
    (restored on exit)."""
    with StandinServer(judge_persona) as server:
        variables = {"EVAL_PIPELINES_JUDGE_BASE_URL": server.base_url, "EVAL_PIPELINES_JUDGE_API_KEY": "standin-no-key",
                     "EVAL_PIPELINES_JUDGE_MODEL": STANDIN_JUDGE_MODEL,
                     "EVAL_PIPELINES_JUDGE_MODEL_VERSION": STANDIN_JUDGE_MODEL}
        previous = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            yield server.base_url
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
