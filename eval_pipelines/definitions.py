"""The single Dagster entry point: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

import dagster as dg

from eval_pipelines.defs.assets.ingestion import trace_ingestion
from eval_pipelines.defs.assets.scoring import feedback_linking, programmatic_scores
from eval_pipelines.defs.assets.validation import trace_validation, traces_expectations
from eval_pipelines.defs.jobs import hourly_evaluation_job
from eval_pipelines.defs.resources import (
    IngestionConfigResource,
    LakeResource,
    ScoringConfigResource,
    duckdb_resource,
)
from eval_pipelines.defs.sensors import landing_sensor
from eval_pipelines.home import Home

home = Home.from_env()

defs = dg.Definitions(
    assets=[trace_ingestion, trace_validation, programmatic_scores, feedback_linking],
    asset_checks=[traces_expectations],
    jobs=[hourly_evaluation_job],
    sensors=[landing_sensor],
    resources={
        "lake": LakeResource(home=str(home.root)),
        "duckdb": duckdb_resource(home),
        "ingestion": IngestionConfigResource(),
        "scoring": ScoringConfigResource(),
    },
)
