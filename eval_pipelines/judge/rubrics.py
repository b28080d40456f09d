"""Rubrics: versioned YAML files that tell the judge what to assess and which labels it may give.

A rubric lists its criteria, the allowed labels with their meaning (and whether each counts as a
pass), an ordinal score scale with anchors, the request fields it needs, and few-shot examples.
Packaged defaults live in ``defaults/rubrics/``; a folder of user rubrics overrides them by name.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from eval_pipelines.config import ConfigError, SettingsModel, load_config, packaged_default

RUBRICS_ENV_VAR = "EVAL_PIPELINES_RUBRICS"
RequestField = Literal["retrieved_context", "system_instructions"]
RubricKind = Literal["single", "pairwise"]
RubricUnit = Literal["call", "session", "agent_run"]
# A pairwise rubric compares answer A with answer B; swapping them must swap these labels.
PAIRWISE_SWAP = {"a_better": "b_better", "b_better": "a_better"}


class LabelDefinition(SettingsModel):
    label: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """The label the judge may give (snake_case)."""
    meaning: str = Field(min_length=1)
    """What it means, as the judge reads it."""
    passed: bool
    """Whether this label counts as a pass."""


class ScoreScale(SettingsModel):
    min: int = 1
    """The lowest score."""
    max: int = 5
    """The highest score."""
    anchors: dict[int, str] = {}
    """Score to what it means."""

    @model_validator(mode="after")
    def _ordered(self) -> ScoreScale:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        outside = [a for a in self.anchors if not self.min <= a <= self.max]
        if outside:
            raise ValueError(f"anchors {outside} are outside {self.min}..{self.max}")
        return self


class Verdict(SettingsModel):
    label: str
    """One of the rubric's labels."""
    score: int
    """A score on the rubric's scale."""
    explanation: str
    """Why, in a sentence."""


class Example(SettingsModel):
    input: str
    """The user's question; the whole conversation, for a session rubric."""
    output: str = ""
    """The answer judged (answer A of a pairwise rubric); an agent run's steps; empty for a session rubric, whose
    `input` is the conversation."""
    output_b: str | None = None
    """Answer B, for pairwise rubrics."""
    context: str | None = None
    """Retrieved context, for rubrics that require it."""
    system: str | None = None
    """System instructions, for rubrics that require them."""
    verdict: Verdict
    """The verdict the judge should give."""


class Rubric(SettingsModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """The rubric's name (snake_case); `judge.yaml` refers to it."""
    version: int = Field(ge=1)
    """Raise it on any change: scores carry it, and cached verdicts of another version are not reused."""
    kind: RubricKind = "single"
    """`single` judges one answer; `pairwise` compares two (calibration and offline comparisons only)."""
    unit: RubricUnit = "call"
    """What one verdict judges: an LLM `call`, a whole conversation (`session`) or an agent's steps in one trace
    (`agent_run`)."""
    description: str = Field(min_length=1)
    """What the rubric assesses, in a sentence."""
    criteria: list[str] = Field(min_length=1)
    """What the judge checks, one per item."""
    labels: list[LabelDefinition] = Field(min_length=2)
    """The labels the judge may give."""
    score: ScoreScale = ScoreScale()
    """The ordinal score scale."""
    requires: list[RequestField] = []
    """Request fields without which a call is not judged on this rubric."""
    examples: list[Example] = []
    """Few-shot examples shown to the judge."""

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: list[LabelDefinition]) -> list[LabelDefinition]:
        names = [label.label for label in labels]
        if len(set(names)) != len(names):
            raise ValueError(f"labels must be unique, got {names}")
        if not any(label.passed for label in labels):
            raise ValueError("at least one label must have passed: true")
        return labels

    @model_validator(mode="after")
    def _pairwise_labels(self) -> Rubric:
        if self.kind == "pairwise":
            missing = sorted(set(PAIRWISE_SWAP) - set(self.label_names))
            if missing:
                raise ValueError(f"a pairwise rubric needs the labels {sorted(PAIRWISE_SWAP)}; missing {missing}")
            if any(example.output_b is None for example in self.examples):
                raise ValueError("every example of a pairwise rubric needs output_b")
            if self.unit != "call":
                raise ValueError("a pairwise rubric compares two answers to one call: its unit must be call")
        return self

    @model_validator(mode="after")
    def _examples_use_the_scale(self) -> Rubric:
        for i, example in enumerate(self.examples):
            if example.verdict.label not in self.label_names:
                raise ValueError(f"examples[{i}]: label {example.verdict.label!r} is not one of {self.label_names}")
            if not self.score.min <= example.verdict.score <= self.score.max:
                raise ValueError(f"examples[{i}]: score {example.verdict.score} is outside the scale")
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.label for label in self.labels]

    def passed(self, label: str) -> bool:
        return next(d.passed for d in self.labels if d.label == label)

    def unswapped(self, label: str | None) -> str | None:
        """The label a pairwise verdict on (B, A) means for (A, B)."""
        return PAIRWISE_SWAP.get(label, label) if label else label

    def canonical_text(self) -> str:
        """The rubric as canonical JSON: what the judge version hashes (comments and layout excluded)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_text().encode()).hexdigest()[:12]


def load_rubric(path: Path) -> Rubric:
    rubric = load_config(path, Rubric)
    if rubric.name != path.stem:
        raise ConfigError(f"{path}:1: name: rubric {rubric.name!r} must be in a file named {rubric.name}.yaml")
    return rubric


def load_rubrics(folder: Path | None = None) -> dict[str, Rubric]:
    """Packaged rubrics, overridden and extended by the ``*.yaml`` files of ``folder`` (else of the folder
    ``EVAL_PIPELINES_RUBRICS`` names)."""
    files = {path.stem: path for path in sorted(packaged_default("rubrics").glob("*.yaml"))}
    if folder is None and os.environ.get(RUBRICS_ENV_VAR):
        folder = Path(os.environ[RUBRICS_ENV_VAR])
    if folder is not None:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: rubric folder does not exist")
        files.update({path.stem: path for path in sorted(folder.glob("*.yaml"))})
    return {name: load_rubric(path) for name, path in files.items()}
