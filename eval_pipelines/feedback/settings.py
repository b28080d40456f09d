"""Feedback settings (YAML with packaged defaults)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from eval_pipelines.config import SettingsFile, SettingsModel, load_config

# Implicit signals of an hour are derived from that hour's and the previous hour's traces.
FEEDBACK_FILE = SettingsFile("feedback.yaml", "EVAL_PIPELINES_FEEDBACK")
MAX_WINDOW_S = 3600


class ImplicitSettings(SettingsModel):
    regeneration_within_s: float = Field(300, gt=0, le=MAX_WINDOW_S)
    """Regeneration: the next turn asks the same question (normalised text) within this many seconds."""
    rephrase_within_s: float = Field(300, gt=0, le=MAX_WINDOW_S)
    """Rephrase: the next turn comes within this many seconds ..."""
    rephrase_min_similarity: float = Field(0.5, gt=0, lt=1)
    """... and its words overlap the question's (Jaccard of word sets) at least this much."""
    abandonment_after_s: float = Field(600, gt=0, le=MAX_WINDOW_S)
    """Abandonment: no further turn for this long after an answer that failed one of `abandonment_checks`."""
    abandonment_checks: list[str] = Field(default_factory=list)
    """The evaluators whose failure, followed by silence, counts as abandonment."""


class FeedbackSettings(SettingsModel):
    link_lookback_hours: int = Field(24, ge=0, le=24 * 31)
    """Feedback links to an LLM call in the traces of this many hours up to the feedback's own hour."""
    implicit: ImplicitSettings = Field(default_factory=ImplicitSettings)
    """How implicit signals are derived from the next turn of a session."""


def load_feedback_settings(path: Path | None = None) -> FeedbackSettings:
    return load_config(path or FEEDBACK_FILE.path(), FeedbackSettings)
