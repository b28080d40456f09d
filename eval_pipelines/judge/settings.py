"""What the judge samples each hour, which rubrics apply where, and how much it may spend.

Read from ``defaults/judge.yaml`` or the file named by ``EVAL_PIPELINES_JUDGE``. The endpoint (URL,
model, pinned version, throughput) is not here: it is the ``judge`` resource's configuration.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from eval_pipelines.config import ConfigError, configured_path, line_of, load_config
from eval_pipelines.judge.rubrics import Rubric

JUDGE_ENV_VAR = "EVAL_PIPELINES_JUDGE"
StratumColumn = Literal["request_model", "response_model", "prompt_version", "route", "service_name",
                        "environment", "provider"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrioritySettings(_Strict):
    max_share: float = Field(default=0.5, ge=0, le=1)
    thumbs_down: bool = True
    failed_evaluators: list[str] = []


class SamplingSettings(_Strict):
    seed: int = 0
    per_hour: int = Field(default=120, ge=1)
    min_per_stratum: int = Field(default=3, ge=0)
    strata: list[StratumColumn] = ["response_model", "prompt_version", "route"]
    priority: PrioritySettings = PrioritySettings()


class Limit(_Strict):
    calls: int = Field(ge=0)
    tokens: int = Field(ge=0)


class BudgetSettings(_Strict):
    per_partition: Limit = Limit(calls=1000, tokens=2_000_000)
    per_day: Limit = Limit(calls=20_000, tokens=40_000_000)


class JudgeSettings(_Strict):
    sampling: SamplingSettings = SamplingSettings()
    rubrics: dict[str, list[str]] = {"helpfulness": ["*"]}
    budget: BudgetSettings = BudgetSettings()
    redact_pii: bool = False

    def rubrics_for_route(self, route: str | None) -> list[str]:
        return [name for name, patterns in self.rubrics.items()
                if any(fnmatchcase(route or "", pattern) for pattern in patterns)]


def load_judge_settings(path: Path | None = None, rubrics: dict[str, Rubric] | None = None) -> JudgeSettings:
    """Loads and validates the judge settings; with ``rubrics``, also checks every named rubric exists."""
    path = path or configured_path(JUDGE_ENV_VAR, "judge.yaml")
    settings = load_config(path, JudgeSettings)
    unknown = sorted(set(settings.rubrics) - set(rubrics or settings.rubrics))
    if unknown:
        raise ConfigError("\n".join(f"{path}:{line_of(path, ('rubrics', name))}: rubrics.{name}: unknown rubric; "
                                     f"known: {sorted(rubrics or {})}" for name in unknown))
    pairwise = sorted(name for name in settings.rubrics if rubrics and rubrics[name].kind == "pairwise")
    if pairwise:
        raise ConfigError("\n".join(
            f"{path}:{line_of(path, ('rubrics', name))}: rubrics.{name}: compares two answers; production "
            "requests have one (pairwise rubrics are for calibration and offline comparisons)" for name in pairwise))
    return settings
