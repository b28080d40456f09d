"""What the judge samples each hour, which rubrics apply where, and how much it may spend.

Read from ``defaults/judge.yaml`` or the file named by ``EVAL_PIPELINES_JUDGE``. The endpoint (URL,
model, pinned version, throughput) is not here: it is the ``judge`` resource's configuration.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from pydantic import Field

from eval_pipelines.config import ConfigError, SettingsFile, SettingsModel, line_of, load_config
from eval_pipelines.judge.rubrics import Rubric

JUDGE_FILE = SettingsFile("judge.yaml", "EVAL_PIPELINES_JUDGE")
StratumColumn = Literal["request_model", "response_model", "prompt_version", "route", "service_name",
                        "environment", "provider"]


class PrioritySettings(SettingsModel):
    max_share: float = Field(default=0.5, ge=0, le=1)
    """Hard cases are taken with probability 1 while they fit in this share of `per_hour`; beyond it they are sampled
    too."""
    thumbs_down: bool = True
    """A call with negative user feedback is a hard case."""
    failed_evaluators: list[str] = []
    """A call failing one of these evaluators is a hard case."""


class SamplingSettings(SettingsModel):
    seed: int = 0
    """Changing it draws a different (equally valid) sample."""
    per_hour: int = Field(default=120, ge=1)
    """Target sample size per hour, hard cases included."""
    min_per_stratum: int = Field(default=3, ge=0)
    """Every stratum gets at least this many (or all it has)."""
    strata: list[StratumColumn] = ["response_model", "prompt_version", "route"]
    """The columns whose combinations are sampled as strata."""
    priority: PrioritySettings = PrioritySettings()
    """Hard cases, sampled first."""


SessionHardCase = Literal["escalated", "frustrated", "repeated_question", "failed_calls", "thumbs_down", "abandoned"]
AgentRunHardCase = Literal["invalid_tool_calls", "loops", "errors"]


class UnitSamplingSettings(SettingsModel):
    per_hour: int = Field(default=20, ge=1)
    """Target sample size per hour, hard cases included."""
    min_per_stratum: int = Field(default=1, ge=0)
    """Every stratum gets at least this many (or all it has)."""
    strata: list[StratumColumn] = ["prompt_version", "route"]
    """The columns whose combinations are sampled as strata (a session's are its last turn's)."""
    max_share: float = Field(default=0.5, ge=0, le=1)
    """Hard cases are taken with probability 1 while they fit in this share of `per_hour`; beyond it they are sampled
    too."""

    def sampling(self, seed: int) -> SamplingSettings:
        """These settings as the call sample's, for the same sampler."""
        return SamplingSettings(seed=seed, per_hour=self.per_hour, min_per_stratum=self.min_per_stratum,
                                strata=self.strata, priority=PrioritySettings(max_share=self.max_share))


class SessionSamplingSettings(UnitSamplingSettings):
    hard_cases: list[SessionHardCase] = ["escalated", "frustrated", "repeated_question", "failed_calls",
                                         "thumbs_down"]
    """What makes a closed session a hard case."""


class AgentRunSamplingSettings(UnitSamplingSettings):
    hard_cases: list[AgentRunHardCase] = ["invalid_tool_calls", "loops", "errors"]
    """What makes an agent run a hard case."""


class ConversationSamplingSettings(SettingsModel):
    sessions: SessionSamplingSettings = SessionSamplingSettings()
    """Which closed sessions the session rubrics judge each hour."""
    agent_runs: AgentRunSamplingSettings = AgentRunSamplingSettings()
    """Which agent runs the agent-run rubrics judge each hour."""


class Limit(SettingsModel):
    calls: int = Field(ge=0)
    """Judge calls allowed."""
    tokens: int = Field(ge=0)
    """Judge tokens (prompt and completion) allowed."""


class BudgetSettings(SettingsModel):
    per_partition: Limit = Limit(calls=1000, tokens=2_000_000)
    """For one materialization of one hour."""
    per_day: Limit = Limit(calls=20_000, tokens=40_000_000)
    """For all runs, per UTC calendar day of spending."""


class JudgeSettings(SettingsModel):
    sampling: SamplingSettings = SamplingSettings()
    """Which calls the judge sees each hour."""
    conversations: ConversationSamplingSettings = ConversationSamplingSettings()
    """Which sessions and agent runs the judge sees each hour (seeded by `sampling.seed`)."""
    rubrics: dict[str, list[str]] = {"helpfulness": ["*"]}
    """Rubric name to the routes it applies to (exact or glob); a rubric's `unit` says whether it judges calls,
    sessions or agent runs."""
    budget: BudgetSettings = BudgetSettings()
    """How much the judge may spend."""
    redact_pii: bool = False
    """Replace e-mails, card numbers, IBANs and phone numbers before sending to the judge."""

    def rubrics_for_route(self, route: str | None) -> list[str]:
        return [name for name, patterns in self.rubrics.items()
                if any(fnmatchcase(route or "", pattern) for pattern in patterns)]


def load_judge_settings(path: Path | None = None, rubrics: dict[str, Rubric] | None = None) -> JudgeSettings:
    """Loads and validates the judge settings; with ``rubrics``, also checks every named rubric exists."""
    path = path or JUDGE_FILE.path()
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
