"""Feedback settings (YAML with packaged defaults)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from eval_pipelines.config import configured_path, load_config

# Implicit signals of an hour are derived from that hour's and the previous hour's traces.
MAX_WINDOW_S = 3600


class ImplicitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regeneration_within_s: float = Field(300, gt=0, le=MAX_WINDOW_S)
    rephrase_within_s: float = Field(300, gt=0, le=MAX_WINDOW_S)
    rephrase_min_similarity: float = Field(0.5, gt=0, lt=1)
    abandonment_after_s: float = Field(600, gt=0, le=MAX_WINDOW_S)
    abandonment_checks: list[str] = Field(default_factory=list)


class FeedbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link_lookback_hours: int = Field(24, ge=0, le=24 * 31)
    implicit: ImplicitSettings = Field(default_factory=ImplicitSettings)


def load_feedback_settings(path: Path | None = None) -> FeedbackSettings:
    return load_config(path or configured_path("EVAL_PIPELINES_FEEDBACK", "feedback.yaml"), FeedbackSettings)
