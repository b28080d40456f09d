"""Typed views of the ingestion settings and the price table (packaged defaults, user overrides)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, NonNegativeFloat, PositiveFloat, field_validator

from eval_pipelines.config import SettingsFile, SettingsModel, load_config

INGESTION_FILE = SettingsFile("ingestion.yaml", "EVAL_PIPELINES_INGESTION_CONFIG")
PRICES_FILE = SettingsFile("prices.yaml", "EVAL_PIPELINES_PRICES")
REQUIRED_DIMENSIONS = ("prompt_version", "route")


class IngestionSettings(SettingsModel):
    dimensions: dict[str, list[str]]
    """Slicing dimensions: output name to the attribute keys tried in order (span first, then its ancestors).
    `prompt_version` and `route` are required; any other name becomes an extra dimension."""
    session_id: list[str] = Field(min_length=1)
    """Attribute keys holding the conversation or session id, tried in order."""
    user_id: list[str] = Field(min_length=1)
    """Attribute keys holding the end user's id, tried in order."""
    environment: list[str] = Field(min_length=1)
    """Attribute keys holding the deployment environment, tried in order."""
    max_future_skew_hours: PositiveFloat = 24.0
    """How far after its file landed a span may start; later ones are quarantined as clock skew."""

    @field_validator("dimensions")
    @classmethod
    def _required_dimensions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        missing = [name for name in REQUIRED_DIMENSIONS if name not in value]
        if missing:
            raise ValueError(f"missing required dimension(s): {', '.join(missing)}")
        empty = [name for name, keys in value.items() if not keys]
        if empty:
            raise ValueError(f"dimension(s) with no attribute keys: {', '.join(empty)}")
        return value

    @property
    def future_skew_ns(self) -> int:
        return int(self.max_future_skew_hours * 3_600_000_000_000)

    @property
    def extra_dimensions(self) -> list[str]:
        return [name for name in self.dimensions if name not in REQUIRED_DIMENSIONS]

    def lookup_keys(self) -> dict[str, list[str]]:
        """Every value resolved up the span tree, by output name."""
        return {**self.dimensions, "session_id": self.session_id, "user_id": self.user_id}


class ModelPrice(SettingsModel):
    input_per_million: NonNegativeFloat
    """USD per million input tokens."""
    output_per_million: NonNegativeFloat
    """USD per million output tokens."""


class PriceTable(SettingsModel):
    models: dict[str, ModelPrice]
    """Model name (or prefix: the longest matching prefix wins) to its price."""

    def price_for(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        matches = [name for name in self.models if model.startswith(name)]
        return self.models[max(matches, key=len)] if matches else None


def load_ingestion_settings(path: Path | None = None) -> IngestionSettings:
    return load_config(path or INGESTION_FILE.path(),
                       IngestionSettings)


def load_price_table(path: Path | None = None) -> PriceTable:
    return load_config(path or PRICES_FILE.path(), PriceTable)
