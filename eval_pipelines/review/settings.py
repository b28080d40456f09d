"""The review queue's and the golden set's settings (``defaults/review.yaml``, or ``EVAL_PIPELINES_REVIEW``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eval_pipelines.config import configured_path, load_config

REVIEW_ENV_VAR = "EVAL_PIPELINES_REVIEW"
REASONS = ("thumbs_down", "judge_fail", "judge_disagrees", "alert_window", "low_confidence")


class GoldenSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    refresh_threshold: int = Field(default=20, ge=1)
    size_cap: int = Field(default=500, ge=1)
    held_out_share: float = Field(default=0.3, ge=0, le=1)
    seed: int = 20261122
    near_duplicate_jaccard: float = Field(default=0.8, gt=0, le=1)


class ReviewSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_day: int = Field(default=200, ge=1)
    per_hour: int = Field(default=20, ge=1)
    control_share: float = Field(default=0.1, ge=0, le=1)
    seed: int = 20261122
    reasons: dict[str, int] = Field(default_factory=lambda: {reason: rank for rank, reason in enumerate(REASONS, 1)})
    disagreement_evaluators: list[str] = ["refusal", "empty_answer", "json_valid", "json_schema", "grounding"]
    low_confidence_scores: list[float] = [3]
    near_duplicate_jaccard: float = Field(default=0.8, gt=0, le=1)
    golden: GoldenSettings = GoldenSettings()

    @field_validator("reasons")
    @classmethod
    def _known_reasons(cls, reasons: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(reasons) - set(REASONS))
        if unknown:
            raise ValueError(f"unknown reason(s) {unknown}; known: {list(REASONS)}")
        return reasons


def load_review_settings(path: Path | None = None) -> ReviewSettings:
    return load_config(path or configured_path(REVIEW_ENV_VAR, "review.yaml"), ReviewSettings)
