"""Typed views of the ingestion settings and the price table (packaged defaults, user overrides)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, field_validator

from eval_pipelines.config import configured_path, load_config

REQUIRED_DIMENSIONS = ("prompt_version", "route")


class IngestionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dimensions: dict[str, list[str]]
    session_id: list[str] = Field(min_length=1)
    user_id: list[str] = Field(min_length=1)
    environment: list[str] = Field(min_length=1)
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


class ModelPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_per_million: NonNegativeFloat
    output_per_million: NonNegativeFloat


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelPrice]

    def price_for(self, model: str | None) -> ModelPrice | None:
        if not model:
            return None
        matches = [name for name in self.models if model.startswith(name)]
        return self.models[max(matches, key=len)] if matches else None


def load_ingestion_settings(path: Path | None = None) -> IngestionSettings:
    return load_config(path or configured_path("EVAL_PIPELINES_INGESTION_CONFIG", "ingestion.yaml"),
                       IngestionSettings)


def load_price_table(path: Path | None = None) -> PriceTable:
    return load_config(path or configured_path("EVAL_PIPELINES_PRICES", "prices.yaml"), PriceTable)
