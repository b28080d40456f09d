"""Online evaluation for LLM applications, built on Dagster."""

from typing import Any

# The Component is Dagster's layer: imported when asked for, so the domain modules never load Dagster.
_LAZY = {"OnlineEvaluationComponent": "eval_pipelines.defs.component"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eval_pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
