"""Every packaged evaluator by name: each module of ``eval_pipelines.evaluators.builtin`` contributes the
``EVALUATORS`` it lists, so adding one is adding a module there (the configuration's fields, the SLIs and the
scoring follow from this registry)."""

from __future__ import annotations

from types import ModuleType

from eval_pipelines.discovery import package_modules
from eval_pipelines.evaluators import builtin
from eval_pipelines.evaluators.base import Evaluator


def discover(package: ModuleType) -> dict[str, Evaluator]:
    """The ``EVALUATORS`` of every module of ``package``, by name, modules in name order."""
    found: dict[str, Evaluator] = {}
    for module in package_modules(package):
        for evaluator in getattr(module, "EVALUATORS", ()):
            if evaluator.name in found:
                raise ValueError(f"two evaluators are named {evaluator.name!r} ({module.__name__})")
            found[evaluator.name] = evaluator
    return found


EVALUATORS: dict[str, Evaluator] = discover(builtin)
