"""``offline_sensor``: new offline results, a new golden set or judge version re-score the candidates."""

import dagster as dg

from eval_pipelines.defs.offline.jobs import offline_job
from eval_pipelines.defs.resources import JudgeResource, LakeResource
from eval_pipelines.defs.triggers import files_fingerprint, judge_versions, on_change
from eval_pipelines.review.golden import latest_version


@dg.sensor(
    job_name=offline_job.name,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-scores the candidates when files in <home>/offline change, a golden-set version appears or "
                "the judge version changes.",
)
def offline_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, judge: JudgeResource) -> dg.SensorResult:
    home = lake.layout
    latest = latest_version(home.shared("golden").local())
    if latest is None:
        return dg.SensorResult(skip_reason="no golden set yet", cursor=context.cursor)
    files = sorted(p for p in home.shared("offline").local().rglob("*.jsonl") if p.is_file())
    state = {"offline files": files_fingerprint(files), "golden set": f"v{latest.version}",
             "judge": judge_versions(judge)}
    return on_change(context, state, "offline", "offline files, golden set and judge versions unchanged")
