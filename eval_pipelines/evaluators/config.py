"""Which programmatic evaluators run on which route, with their settings (one YAML file).

``defaults`` configures every route; an entry under ``routes`` (an exact route or a glob such as
``/orders*``) overrides the fields it names, evaluator by evaluator, and can switch one on or off.
Regular expressions use RE2 syntax (DuckDB runs them) and are checked when the file is loaded.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt, create_model, field_validator

from eval_pipelines.config import SettingsFile, SettingsModel, load_config
from eval_pipelines.evaluators.base import Settings
from eval_pipelines.evaluators.custom import load_function
from eval_pipelines.evaluators.registry import EVALUATORS

EVALUATORS_FILE = SettingsFile("evaluators.yaml", "EVAL_PIPELINES_EVALUATORS")


class _Block(SettingsModel):
    """One settings entry per evaluator; absent = not configured at this level."""

    def enabled(self) -> dict[str, Settings]:
        return {name: settings for name in type(self).model_fields
                if (settings := getattr(self, name)) is not None and settings.enabled}


# The fields follow from the evaluators: each one's name with its settings model.
EvaluatorBlock = create_model("EvaluatorBlock", __base__=_Block, __module__=__name__,
                              **{name: (evaluator.settings | None, Field(None, description=evaluator.description))
                                 for name, evaluator in EVALUATORS.items()})


class CustomEvaluator(Settings):
    """A team's own code evaluator (see :mod:`eval_pipelines.evaluators.custom`)."""

    function: str = Field(description="package.module:function, importable where the pipeline runs.")
    per_row: bool = Field(False, description="The function takes one request (else the batch, as an Arrow table).")
    version: PositiveInt = Field(1, description="Raise it when the function changes: requests are scored again.")
    routes: list[str] | None = Field(None, description="Route globs it runs on; absent: every request.")
    settings: dict[str, Any] = Field(default_factory=dict, description="Passed to the function as is.")

    @field_validator("function")
    @classmethod
    def _importable(cls, value: str) -> str:
        load_function(value)
        return value


class EvaluatorConfig(SettingsModel):
    defaults: EvaluatorBlock = Field(default_factory=EvaluatorBlock)
    """Settings of every evaluator for all routes."""
    routes: dict[str, EvaluatorBlock] = Field(default_factory=dict)
    """Route (exact or glob) to the blocks that override the defaults there."""
    custom: dict[str, CustomEvaluator] = Field(default_factory=dict)
    """Your own code evaluators: name to the function to import and its settings."""

    @field_validator("custom")
    @classmethod
    def _custom_names(cls, value: dict[str, CustomEvaluator]) -> dict[str, CustomEvaluator]:
        for name in value:
            if not name.replace("_", "").isalnum() or not name[0].isalpha():
                raise ValueError(f"custom evaluator name {name!r}: letters, digits and '_', starting with a letter")
            if name in EvaluatorBlock.model_fields:
                raise ValueError(f"custom evaluator name {name!r} is a packaged evaluator's name")
        return value

    def block_for(self, route: str | None) -> EvaluatorBlock:
        """The defaults with the first matching route entry (exact match first, then globs in file order)."""
        override = self.routes.get(route) if route is not None else None
        if override is None and route is not None:
            override = next((block for pattern, block in self.routes.items()
                             if fnmatch.fnmatchcase(route, pattern)), None)
        return merge_blocks(self.defaults, override) if override else self.defaults


def merge_blocks(base: EvaluatorBlock, override: EvaluatorBlock) -> EvaluatorBlock:
    merged = {}
    for name in EvaluatorBlock.model_fields:
        mine, theirs = getattr(base, name), getattr(override, name)
        if theirs is None:
            merged[name] = mine
        elif mine is None:
            merged[name] = theirs
        else:
            explicit = {field: getattr(theirs, field) for field in theirs.model_fields_set}
            merged[name] = type(mine).model_validate({**mine.model_dump(by_alias=False), **explicit})
    return EvaluatorBlock(**merged)


def load_evaluator_config(path: Path | None = None) -> EvaluatorConfig:
    """The user file (argument or ``EVAL_PIPELINES_EVALUATORS``), else the packaged defaults."""
    return load_config(path or EVALUATORS_FILE.path(), EvaluatorConfig)
