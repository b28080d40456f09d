"""How sessions are closed and which signals are read from them (``defaults/conversations.yaml``, or the copy
``EVAL_PIPELINES_CONVERSATIONS`` names)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from eval_pipelines.config import ConfigError, SettingsFile, SettingsModel, line_of, load_config

CONVERSATIONS_FILE = SettingsFile("conversations.yaml", "EVAL_PIPELINES_CONVERSATIONS")


class Escalation(SettingsModel):
    phrases: list[str] = []
    """A user turn containing one of these (case-insensitive) asks for a human."""
    tools: list[str] = []
    """A call to one of these tools hands the conversation to a human."""


class Frustration(SettingsModel):
    phrases: list[str] = []
    """Case-insensitive substrings of a user turn that mark frustration, in any language."""


class ConversationSettings(SettingsModel):
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """A session closes this long after its last turn; a later turn with the same session id starts a new one."""
    end_dimension: str | None = Field(default="session_end", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The dimension (`dimensions` in `ingestion.yaml`) an app sets to true on a turn that ends its session: the
    session closes at that turn's answer instead of after the idle time. `null` closes on idle time only."""
    lookback_hours: int = Field(default=6, ge=1, le=48)
    """How far back a session's turns are read; a session spanning longer is cut and marked `window_truncated`."""
    transcript_max_chars: int = Field(default=20_000, ge=100)
    """The stored transcript's size bound; longer ones keep their first and last turns, marked
    `transcript_truncated`."""
    escalation: Escalation = Escalation()
    """What counts as escalation to a human."""
    frustration: Frustration = Frustration()
    """What counts as a frustrated user turn."""
    repeated_question_min_similarity: float = Field(default=0.8, gt=0, le=1)
    """A user turn whose words overlap an earlier turn's (Jaccard of word sets) at least this much repeats it."""


def load_conversation_settings(path: Path | None = None, dimensions: list[str] | None = None) -> ConversationSettings:
    """Loads and validates the settings; with ``dimensions`` (the extra dimensions `ingestion.yaml` reads), also checks
    that the end marker is one of them."""
    path = path or CONVERSATIONS_FILE.path()
    settings = load_config(path, ConversationSettings)
    if dimensions is not None and settings.end_dimension and settings.end_dimension not in dimensions:
        raise ConfigError(f"{path}:{line_of(path, ('end_dimension',))}: end_dimension: {settings.end_dimension!r} is "
                          f"not a dimension ingestion.yaml reads (known: {sorted(dimensions)}); add it under "
                          "dimensions there, or set end_dimension: null")
    return settings
