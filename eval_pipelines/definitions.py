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
from eval_pipelines.defs.jobs import build_jobs
from eval_pipelines.defs.naming import DEFAULT_NAMING, Naming
from eval_pipelines.defs.resources import (
    IngestionConfigResource,
    LakeResource,
    MonitoringConfigResource,
    ReviewConfigResource,
    ScoringConfigResource,
    duckdb_resource,
    judge_resource,
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


def build_defs(home: Home, naming: Naming = DEFAULT_NAMING, **resources: dg.ConfigurableResource) -> dg.Definitions:
    """Everything, with the lake at ``home``, assets named by ``naming``, and any resource replaced by name (the
    demo, the tests and the Component build their own)."""
    assets, checks = naming.apply([
        trace_ingestion, trace_validation, programmatic_scores, feedback_linking, judge_sample, judge_scores,
        label_ingestion, judge_calibration, judge_canary, quality_slis, alerts, drift_report, daily_alerts,
        review_queue, golden_set, offline_evaluation, online_offline_divergence], [traces_expectations])
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=build_jobs(naming),
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
            "judge": judge_resource(),
        } | resources,
    )


defs = build_defs(Home.from_env())
