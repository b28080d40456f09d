"""``labels_sensor``: new labels or a new judge version re-run the calibration."""

import dagster as dg

from eval_pipelines.calibration.labels import label_files
from eval_pipelines.defs.calibration.jobs import calibration_job
from eval_pipelines.defs.resources import JudgeResource, LakeResource
from eval_pipelines.defs.triggers import files_fingerprint, judge_versions, on_change


@dg.sensor(
    job_name=calibration_job.name,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-calibrates the judge when label files in <home>/labels change or the judge version changes.",
)
def labels_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, judge: JudgeResource) -> dg.SensorResult:
    state = {"labels": files_fingerprint(label_files(lake.layout.shared("labels").local())),
             "judge": judge_versions(judge)}
    return on_change(context, state, "calibration", "labels and judge versions unchanged")
