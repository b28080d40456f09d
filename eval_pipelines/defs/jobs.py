"""The jobs, named the same in every deployment; their selections follow the deployment's naming."""

from typing import TYPE_CHECKING

import dagster as dg

from eval_pipelines.defs.naming import Naming

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

HOURLY_JOB = "hourly_evaluation_job"


# Each daily or on-demand job: the tables it materializes, and what it is for.
_TABLE_JOBS = {
    "calibration_job": (("human_labels", "label_quarantine", "judge_calibration", "judge_calibration_scores"),
                        "Human labels in, the current judge version measured against them."),
    "canary_job": (("judge_canary", "canary_scores", "daily_alerts"),
                   "The canary items re-judged, compared with the judge's own baseline; the daily alert rules."),
    "drift_job": (("drift_report", "drift_scores", "daily_alerts"),
                  "The day's traffic against its reference period (Evidently drift report); the daily alert rules."),
    "review_job": (("review_queue",),
                   "The review queue of ended hours, once their alerts are evaluated (requested by review_sensor)."),
    "golden_job": (("golden_set",),
                   "A new golden-set version from the reviewed failures (requested by golden_refresh_sensor)."),
    "offline_job": (("offline_scores", "offline_quarantine", "offline_judge_scores"),
                    "Candidates' outputs for the current golden set scored by the production evaluators and judge."),
    "divergence_job": (("online_offline_divergence", "divergence_scores", "daily_alerts"),
                       "Each version's offline scores next to its online scores of the day; the daily alert rules."),
}


def build_jobs(naming: Naming) -> list["UnresolvedAssetJobDefinition"]:
    hourly = dg.define_asset_job(
        HOURLY_JOB,
        selection=naming.stages("ingestion", "validation", "scoring", "judging", "monitoring")
        - naming.tables("drift_report", "drift_scores", "daily_alerts"),
        description="One hour end to end: traces, validation, scores, feedback, judge verdicts, quality SLIs and the "
                    "alerts they raise.")
    return [hourly, *(dg.define_asset_job(name, selection=naming.tables(*tables), description=description)
                      for name, (tables, description) in _TABLE_JOBS.items())]
