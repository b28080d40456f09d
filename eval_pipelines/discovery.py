"""Extension points as folders: what a package's modules hold is found by importing them, so adding an evaluator,
an alert channel or a stage of Dagster definitions is adding a module."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def package_modules(package: ModuleType, packages_only: bool = False) -> list[ModuleType]:
    """The modules (or only the subpackages) directly in ``package``, imported, in name order."""
    return [importlib.import_module(f"{package.__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name)
            if info.ispkg or not packages_only]
