"""Resources: where the lake lives, how DuckDB queries it, and the ingestion settings."""


from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from eval_pipelines.evaluators import EvaluatorConfig, load_evaluator_config
from eval_pipelines.feedback import FeedbackSettings, load_feedback_settings
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines.landing import LandingIndex
from eval_pipelines.settings import IngestionSettings, PriceTable, load_ingestion_settings, load_price_table
from eval_pipelines.validation.rules import ValidationSettings, load_validation_settings


class LakeResource(dg.ConfigurableResource):
    """The ``EVAL_PIPELINES_HOME`` folder: landing files, the Parquet lake, reports."""

    home: str = Field(description="Root folder (EVAL_PIPELINES_HOME).")

    @property
    def layout(self) -> Home:
        return Home(Path(self.home)).ensure()

    @property
    def lake(self) -> Lake:
        return Lake(self.layout.warehouse, self.layout.catalog)

    @property
    def landing_index(self) -> LandingIndex:
        return LandingIndex(self.layout.landing, self.layout.landing_index)


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


def duckdb_resource(home: Home) -> DuckDBResource:
    """An in-memory DuckDB over the Parquet lake: no database file, so no cross-process lock."""
    spill = home.root / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=":memory:",
                          connection_config={"memory_limit": "1GB", "preserve_insertion_order": False,
                                             "temp_directory": str(spill)})
