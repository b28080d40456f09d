"""The review queue's and the golden set's settings (``defaults/review.yaml``, or ``EVAL_PIPELINES_REVIEW``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from eval_pipelines.config import SettingsFile, SettingsModel, load_config

REVIEW_FILE = SettingsFile("review.yaml", "EVAL_PIPELINES_REVIEW")
REASONS = ("thumbs_down", "judge_fail", "judge_disagrees", "alert_window", "low_confidence")


class GoldenSettings(SettingsModel):
    refresh_threshold: int = Field(default=20, ge=1)
    """`golden_refresh_sensor` refreshes once this many new reviewed failures wait."""
    size_cap: int = Field(default=500, ge=1)
    """At most this many items; over it, each route and failure mode keeps a fair share."""
    held_out_share: float = Field(default=0.3, ge=0, le=1)
    """The share of conversations kept for judge calibration, never in the regression split."""
    seed: int = 20261122
    """The split draw (blake2b of the seed and the session or trace id)."""
    near_duplicate_jaccard: float = Field(default=0.8, gt=0, le=1)
    """Items this similar (MinHash over word 3-grams) count as one."""


class ReviewSettings(SettingsModel):
    per_day: int = Field(default=200, ge=1)
    """Queue size per UTC day (hard cases and control together)."""
    per_hour: int = Field(default=20, ge=1)
    """At most this many from one hour, so a bad hour cannot fill the day."""
    control_share: float = Field(default=0.1, ge=0, le=1)
    """Of each hour's places, a uniform draw from all the hour's requests (`control=true`), so labels also measure
    the judge without selection bias."""
    seed: int = 20261122
    """The control draw (blake2b of the seed and the span id)."""
    reasons: dict[str, int] = Field(default_factory=lambda: {reason: rank for rank, reason in enumerate(REASONS, 1)})
    """Why a request is a hard case, to its priority (lower is reviewed first)."""
    disagreement_evaluators: list[str] = ["refusal", "empty_answer", "json_valid", "json_schema", "grounding"]
    """A judge pass with one of these evaluators failing is `judge_disagrees`."""
    low_confidence_scores: list[float] = [3]
    """Judge scores on the pass boundary (`low_confidence`)."""
    near_duplicate_jaccard: float = Field(default=0.8, gt=0, le=1)
    """Requests this similar (MinHash over word 3-grams of question and answer, digits folded) are queued once."""
    golden: GoldenSettings = GoldenSettings()
    """The golden set built from reviewed failures."""

    @field_validator("reasons")
    @classmethod
    def _known_reasons(cls, reasons: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(reasons) - set(REASONS))
        if unknown:
            raise ValueError(f"unknown reason(s) {unknown}; known: {list(REASONS)}")
        return reasons


def load_review_settings(path: Path | None = None) -> ReviewSettings:
    return load_config(path or REVIEW_FILE.path(), ReviewSettings)
