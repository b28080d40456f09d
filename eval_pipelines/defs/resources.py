"""Resources: where the lake lives, how DuckDB queries it, and the ingestion settings."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
from dagster_duckdb import DuckDBResource
from pydantic import Field

from eval_pipelines.conversations.settings import ConversationSettings, load_conversation_settings
from eval_pipelines.evaluators import EvaluatorConfig, load_evaluator_config
from eval_pipelines.feedback import FeedbackSettings, load_feedback_settings
from eval_pipelines.home import Home
from eval_pipelines.judge import Endpoint, JudgeSettings, Rubric, load_judge_settings, load_rubrics
from eval_pipelines.judge.client import StructuredOutput
from eval_pipelines.lake import Lake
from eval_pipelines.landing import LandingIndex
from eval_pipelines.landing_stores import landing_files
from eval_pipelines.monitoring.drift import DriftSettings, load_drift_settings
from eval_pipelines.monitoring.rules import AlertConfig, load_alert_config
from eval_pipelines.monitoring.slis import KNOWN_SLIS
from eval_pipelines.review.settings import ReviewSettings, load_review_settings
from eval_pipelines.settings import IngestionSettings, PriceTable, load_ingestion_settings, load_price_table
from eval_pipelines.validation.rules import ValidationSettings, load_validation_settings


class LakeResource(dg.ConfigurableResource):
    """The ``EVAL_PIPELINES_HOME`` folder: landing files, the Parquet lake, reports."""

    home: str = Field(description="Root folder (EVAL_PIPELINES_HOME).")
    lake_url: str = Field(default="", description="The lake's folder or object store URL (EVAL_PIPELINES_LAKE); "
                                                  "empty: <home>/warehouse.")
    landing_url: str = Field(default="", description="The landing files' folder or object store URL "
                                                     "(EVAL_PIPELINES_LANDING); empty: <home>/landing.")
    shared_url: str = Field(default="", description="Object store URL of labels, canary, offline, golden and "
                                                    "reports (EVAL_PIPELINES_SHARED); empty: folders of <home>.")

    @property
    def layout(self) -> Home:
        return Home(Path(self.home), self.lake_url, self.landing_url, self.shared_url).ensure()

    @property
    def lake(self) -> Lake:
        return Lake(self.layout.lake, self.layout.catalog)

    def required_partition(self, table: str, key: str, columns: list[str] | None = None) -> pa.Table:
        """An upstream hour this asset cannot run without: a clear failure if it was never materialized."""
        data = self.lake.read_partitions(table, "hour", [key], columns)
        if data is None:
            raise dg.Failure(f"{table} partition {key} has not been materialized; materialize {table} first")
        return data

    def landing_index(self, settings: IngestionSettings) -> LandingIndex:
        layout = self.layout
        return LandingIndex(landing_files(layout.landing_location, layout.landing_mirror),
                            layout.landing_index_location, settings.future_skew_ns)


class IngestionConfigResource(dg.ConfigurableResource):
    """User-editable YAML settings; empty paths mean the packaged defaults."""

    ingestion_config: str = Field(default="", description="YAML with attribute keys for dimensions.")
    prices: str = Field(default="", description="YAML price table (USD per million tokens).")
    validation_config: str = Field(default="", description="YAML thresholds for row-level validation.")

    def settings(self) -> IngestionSettings:
        return load_ingestion_settings(Path(self.ingestion_config) if self.ingestion_config else None)

    def price_table(self) -> PriceTable:
        return load_price_table(Path(self.prices) if self.prices else None)

    def validation(self) -> ValidationSettings:
        return load_validation_settings(Path(self.validation_config) if self.validation_config else None)


class ScoringConfigResource(dg.ConfigurableResource):
    """Evaluators per route and feedback settings (YAML files); empty paths mean the packaged defaults."""

    evaluators: str = Field(default="", description="YAML with evaluator settings per route.")
    feedback: str = Field(default="", description="YAML with feedback linking and implicit-signal settings.")
    text_evals_report: bool = Field(default=True, description="Write an Evidently TextEvals report per hour.")

    def evaluator_config(self) -> EvaluatorConfig:
        return load_evaluator_config(Path(self.evaluators) if self.evaluators else None)

    def feedback_settings(self) -> FeedbackSettings:
        return load_feedback_settings(Path(self.feedback) if self.feedback else None)


class ConversationsConfigResource(dg.ConfigurableResource):
    """How sessions close and which signals are read from them (YAML); empty means EVAL_PIPELINES_CONVERSATIONS
    or the packaged default."""

    conversations: str = Field(default="", description="YAML with the idle time, lookback and session signals.")

    def settings(self) -> ConversationSettings:
        return load_conversation_settings(Path(self.conversations) if self.conversations else None)


class JudgeResource(dg.ConfigurableResource):
    """The LLM judge: an OpenAI-compatible endpoint with a pinned model, plus the rubric and sampling files.

    There is no default endpoint: ``base_url`` and ``api_key`` come from the environment
    (``EVAL_PIPELINES_JUDGE_BASE_URL``, ``EVAL_PIPELINES_JUDGE_API_KEY``) in ``definitions.py``.
    """

    base_url: str = Field(description="OpenAI-compatible base URL, e.g. https://api.openai.com/v1.")
    api_key: str = Field(description="API key; pass dg.EnvVar, never a literal.")
    model: str = Field(description="Model name sent with each request.")
    model_version: str = Field(description="The pinned model version this judge is calibrated for (e.g. a dated "
                                           "snapshot); part of the judge version, compared with each reply.")
    temperature: float = 0.0
    seed: int | None = 0
    max_tokens: int = 400
    timeout_s: float = Field(default=30.0, description="Per-request timeout.")
    structured_output: StructuredOutput = Field(
        default="json_schema", description="json_schema, json_object, or none where the endpoint supports neither.")
    concurrency: int = Field(default=8, ge=1, description="Requests in flight at most.")
    requests_per_minute: int = Field(default=0, ge=0, description="Client-side pacing; 0 = none.")
    tokens_per_minute: int = Field(default=0, ge=0, description="Client-side pacing; 0 = none.")
    max_attempts: int = Field(default=5, ge=1)
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = Field(default=120.0, description="Longest Retry-After honoured.")
    breaker_failures: int = Field(default=8, ge=1, description="Consecutive failures that open the circuit.")
    breaker_reset_s: float = Field(default=30.0, description="How long an open circuit holds requests back.")
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0
    settings_file: str = Field(default="", description="YAML: sampling, rubrics per route, budgets (empty: default).")
    rubrics_folder: str = Field(default="", description="Folder of rubric YAML files overriding the packaged ones "
                                "(empty: the folder EVAL_PIPELINES_RUBRICS names, if any).")

    def endpoint(self) -> Endpoint:
        return Endpoint(**{name: getattr(self, name) for name in Endpoint.__dataclass_fields__})

    def rubrics(self) -> dict[str, Rubric]:
        return load_rubrics(Path(self.rubrics_folder) if self.rubrics_folder else None)

    def settings(self, rubrics: dict[str, Rubric]) -> JudgeSettings:
        return load_judge_settings(Path(self.settings_file) if self.settings_file else None, rubrics)


class MonitoringConfigResource(dg.ConfigurableResource):
    """Alert rules and channels, drift settings (YAML); empty paths mean EVAL_PIPELINES_ALERT_RULES /
    EVAL_PIPELINES_DRIFT or the packaged defaults."""

    alert_rules: str = Field(default="", description="YAML with alert rules and channels.")
    drift: str = Field(default="", description="YAML with the drift report's reference period, sampling and topics.")
    evidently_workspace: bool = Field(default=True, description="Push SLIs, drift reports and alert counts into "
                                                                "the local Evidently workspace <home>/evidently.")

    def alert_config(self) -> AlertConfig:
        return load_alert_config(Path(self.alert_rules) if self.alert_rules else None, KNOWN_SLIS)

    def drift_settings(self) -> DriftSettings:
        return load_drift_settings(Path(self.drift) if self.drift else None)


class ReviewConfigResource(dg.ConfigurableResource):
    """The review queue's caps and reasons and the golden set's refresh settings (YAML); empty means
    EVAL_PIPELINES_REVIEW or the packaged default."""

    review: str = Field(default="", description="YAML with the review queue and golden set settings.")

    def settings(self) -> ReviewSettings:
        return load_review_settings(Path(self.review) if self.review else None)


class LakeDuckDBResource(DuckDBResource):
    """DuckDB connections that can read the lake, wherever it lives."""

    lake_url: str = Field(default="", description="The lake's object store URL; empty for a local lake.")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().get_connection() as con:
            yield Lake(self.lake_url).attach(con) if self.lake_url else con


def duckdb_resource(home: Home) -> LakeDuckDBResource:
    """An in-memory DuckDB over the Parquet lake: no database file, so no cross-process lock."""
    spill = home.root / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    return LakeDuckDBResource(database=":memory:", lake_url=home.lake_url,
                              connection_config={"memory_limit": "1GB", "preserve_insertion_order": False,
                                                 "temp_directory": str(spill)})


def judge_resource(**values: str | dg.EnvVar) -> JudgeResource:
    """The judge, its endpoint from ``EVAL_PIPELINES_JUDGE_*`` unless ``values`` names it. No default endpoint:
    point it at a real judge (or at ``eval-pipelines serve-judge``, a stand-in)."""
    endpoint = {field: dg.EnvVar(f"EVAL_PIPELINES_JUDGE_{field.upper()}")
                for field in ("base_url", "api_key", "model", "model_version")}
    return JudgeResource(**(endpoint | values))


# The settings files a deployment may name, by resource: the fields of each resource that hold a file's path.
SETTINGS_FILES = {
    "ingestion": (IngestionConfigResource, ("ingestion_config", "prices", "validation_config")),
    "scoring": (ScoringConfigResource, ("evaluators", "feedback")),
    "conversations": (ConversationsConfigResource, ("conversations",)),
    "monitoring": (MonitoringConfigResource, ("alert_rules", "drift")),
    "review": (ReviewConfigResource, ("review",)),
    "judge": (JudgeResource, ("settings_file", "rubrics_folder")),
}


def configured_resources(files: dict[str, str], judge: dict[str, str | dg.EnvVar]
                         ) -> dict[str, dg.ConfigurableResource]:
    """The settings resources with the files ``files`` names (by field, e.g. ``alert_rules``), and the judge
    with ``judge``'s endpoint values; raises ``ValueError`` naming a field no resource has."""
    known = {field: name for name, (_, fields) in SETTINGS_FILES.items() for field in fields}
    if unknown := sorted(set(files) - set(known)):
        raise ValueError(f"unknown settings file(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    chosen: dict[str, dict[str, str]] = {}
    for field, path in files.items():
        chosen.setdefault(known[field], {})[field] = path
    resources: dict[str, dg.ConfigurableResource] = {
        name: resource(**chosen[name]) for name, (resource, _) in SETTINGS_FILES.items()
        if name in chosen and name != "judge"}
    return resources | {"judge": judge_resource(**chosen.get("judge", {}), **judge)}


def default_resources(home: Home) -> dict[str, dg.ConfigurableResource]:
    """Every resource the stages use, with the lake at ``home`` and settings from the packaged defaults or the
    environment."""
    return {
        "lake": LakeResource(home=str(home.root), lake_url=home.lake_url, landing_url=home.landing_url,
                             shared_url=home.shared_url),
        "duckdb": duckdb_resource(home),
        "judge": judge_resource(),
    } | {name: resource() for name, (resource, _) in SETTINGS_FILES.items() if name != "judge"}
