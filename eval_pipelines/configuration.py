"""Every settings file a deployment may copy: where its copy is named, the model that validates it, and the loader
that also checks it against the rest (rubrics that exist, SLIs that are computed).

``eval-pipelines check-settings`` loads each the way the pipeline does; the configuration reference is built from
the same list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from eval_pipelines.config import ConfigError, SettingsFile
from eval_pipelines.conversations.settings import (
    CONVERSATIONS_FILE,
    ConversationSettings,
    load_conversation_settings,
)
from eval_pipelines.evaluators.config import EVALUATORS_FILE, EvaluatorConfig, load_evaluator_config
from eval_pipelines.feedback.settings import FEEDBACK_FILE, FeedbackSettings, load_feedback_settings
from eval_pipelines.judge.rubrics import load_rubrics
from eval_pipelines.judge.settings import JUDGE_FILE, JudgeSettings, load_judge_settings
from eval_pipelines.monitoring.drift import DRIFT_FILE, DriftSettings, load_drift_settings
from eval_pipelines.monitoring.rules import ALERT_RULES_FILE, AlertConfig, load_alert_config
from eval_pipelines.monitoring.slis import KNOWN_SLIS
from eval_pipelines.review.settings import REVIEW_FILE, ReviewSettings, load_review_settings
from eval_pipelines.settings import (
    INGESTION_FILE,
    PRICES_FILE,
    IngestionSettings,
    PriceTable,
    load_ingestion_settings,
    load_price_table,
)
from eval_pipelines.validation.rules import VALIDATION_FILE, ValidationSettings, load_validation_settings


@dataclass(frozen=True)
class Configurable:
    file: SettingsFile
    model: type[BaseModel]
    load: Callable[[Path], object]


SETTINGS: list[Configurable] = [
    Configurable(INGESTION_FILE, IngestionSettings, load_ingestion_settings),
    Configurable(PRICES_FILE, PriceTable, load_price_table),
    Configurable(VALIDATION_FILE, ValidationSettings, load_validation_settings),
    Configurable(EVALUATORS_FILE, EvaluatorConfig, load_evaluator_config),
    Configurable(FEEDBACK_FILE, FeedbackSettings, load_feedback_settings),
    Configurable(CONVERSATIONS_FILE, ConversationSettings,
                 lambda path: load_conversation_settings(path, load_ingestion_settings().extra_dimensions)),
    Configurable(JUDGE_FILE, JudgeSettings, lambda path: load_judge_settings(path, load_rubrics())),
    Configurable(ALERT_RULES_FILE, AlertConfig, lambda path: load_alert_config(path, KNOWN_SLIS)),
    Configurable(DRIFT_FILE, DriftSettings, load_drift_settings),
    Configurable(REVIEW_FILE, ReviewSettings, load_review_settings),
]


@dataclass(frozen=True)
class Checked:
    file: SettingsFile
    path: Path
    problem: str | None


def check_settings() -> list[Checked]:
    """Every settings file as this environment names it (or the packaged default), loaded and checked."""
    checked = []
    for entry in SETTINGS:
        path = entry.file.path()
        try:
            entry.load(path)
        except ConfigError as exc:
            checked.append(Checked(entry.file, path, str(exc)))
        else:
            checked.append(Checked(entry.file, path, None))
    return checked
