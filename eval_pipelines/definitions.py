"""The single Dagster entry point: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

import dagster as dg

from eval_pipelines.defs.assets.calibration import judge_calibration, judge_canary, label_ingestion
from eval_pipelines.defs.assets.ingestion import trace_ingestion
from eval_pipelines.defs.assets.judging import judge_sample, judge_scores
from eval_pipelines.defs.assets.monitoring import alerts, daily_alerts, drift_report, quality_slis
from eval_pipelines.defs.assets.offline import offline_evaluation, online_offline_divergence
from eval_pipelines.defs.assets.review import golden_set, review_queue
from eval_pipelines.defs.assets.scoring import feedback_linking, programmatic_scores
from eval_pipelines.defs.assets.validation import trace_validation, traces_expectations
from eval_pipelines.defs.executors import executor_from_env
from eval_pipelines.defs.jobs import (
    calibration_job,
    canary_job,
    divergence_job,
    drift_job,
    golden_job,
    hourly_evaluation_job,
    offline_job,
    review_job,
)
from eval_pipelines.defs.resources import (
    IngestionConfigResource,
    JudgeResource,
    LakeResource,
    MonitoringConfigResource,
    ReviewConfigResource,
    ScoringConfigResource,
    duckdb_resource,
)
from eval_pipelines.defs.run_health import dead_run_sensor
from eval_pipelines.defs.schedules import calibration_schedule, canary_schedule, divergence_schedule, drift_schedule
from eval_pipelines.defs.sensors import (
    golden_refresh_sensor,
    labels_sensor,
    landing_sensor,
    offline_sensor,
    review_sensor,
)
from eval_pipelines.home import Home


def build_defs(home: Home, **resources: dg.ConfigurableResource) -> dg.Definitions:
    """Everything, with the lake at ``home`` and any resource replaced by name (the demo and the tests
    build their own)."""
    return dg.Definitions(
        assets=[trace_ingestion, trace_validation, programmatic_scores, feedback_linking, judge_sample, judge_scores,
                label_ingestion, judge_calibration, judge_canary, quality_slis, alerts, drift_report, daily_alerts,
                review_queue, golden_set,
                offline_evaluation, online_offline_divergence],
        asset_checks=[traces_expectations],
        jobs=[hourly_evaluation_job, calibration_job, canary_job, drift_job, review_job, golden_job, offline_job,
              divergence_job],
        schedules=[calibration_schedule, canary_schedule, drift_schedule, divergence_schedule],
        sensors=[landing_sensor, labels_sensor, review_sensor, golden_refresh_sensor, offline_sensor, dead_run_sensor],
        executor=executor_from_env(),
        resources={
            "lake": LakeResource(home=str(home.root), lake_url=home.lake_url, landing_url=home.landing_url,
                                 shared_url=home.shared_url),
            "duckdb": duckdb_resource(home),
            "ingestion": IngestionConfigResource(),
            "scoring": ScoringConfigResource(),
            "monitoring": MonitoringConfigResource(),
            "review": ReviewConfigResource(),
            # No default endpoint: point these at a real judge (or at `eval-pipelines serve-judge`, a stand-in).
            "judge": JudgeResource(
                base_url=dg.EnvVar("EVAL_PIPELINES_JUDGE_BASE_URL"),
                api_key=dg.EnvVar("EVAL_PIPELINES_JUDGE_API_KEY"),
                model=dg.EnvVar("EVAL_PIPELINES_JUDGE_MODEL"),
                model_version=dg.EnvVar("EVAL_PIPELINES_JUDGE_MODEL_VERSION"),
            ),
        } | resources,
    )


defs = build_defs(Home.from_env())
