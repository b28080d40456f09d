"""The jobs, named the same in every deployment; their selections follow the deployment's naming."""

from typing import TYPE_CHECKING

import dagster as dg

from eval_pipelines.defs.naming import Naming

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

HOURLY_JOB = "hourly_evaluation_job"


def build_jobs(naming: Naming) -> list["UnresolvedAssetJobDefinition"]:
    tables = naming.tables
    return [
        dg.define_asset_job(
            HOURLY_JOB,
            selection=naming.stages("ingestion", "validation", "scoring", "judging", "monitoring")
            - tables("drift_report", "drift_scores", "daily_alerts"),
            description="One hour end to end: traces, validation, scores, feedback, judge verdicts, quality SLIs and "
                        "the alerts they raise."),
        dg.define_asset_job(
            "calibration_job",
            selection=tables("human_labels", "label_quarantine", "judge_calibration", "judge_calibration_scores"),
            description="Human labels in, the current judge version measured against them."),
        dg.define_asset_job(
            "canary_job", selection=tables("judge_canary", "canary_scores", "daily_alerts"),
            description="The canary items re-judged, compared with the judge's own baseline; the daily alert rules."),
        dg.define_asset_job(
            "drift_job", selection=tables("drift_report", "drift_scores", "daily_alerts"),
            description="The day's traffic against its reference period (Evidently drift report); the daily alert "
                        "rules."),
        dg.define_asset_job(
            "review_job", selection=tables("review_queue"),
            description="The review queue of ended hours, once their alerts are evaluated (requested by "
                        "review_sensor)."),
        dg.define_asset_job(
            "golden_job", selection=tables("golden_set"),
            description="A new golden-set version from the reviewed failures (requested by golden_refresh_sensor)."),
        dg.define_asset_job(
            "offline_job", selection=tables("offline_scores", "offline_quarantine", "offline_judge_scores"),
            description="Candidates' outputs for the current golden set scored by the production evaluators and "
                        "judge."),
        dg.define_asset_job(
            "divergence_job", selection=tables("online_offline_divergence", "divergence_scores", "daily_alerts"),
            description="Each version's offline scores next to its online scores of the day; the daily alert rules."),
    ]
