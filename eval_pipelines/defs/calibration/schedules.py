"""The judge re-measured every day: ``calibration_schedule`` against the labels, ``canary_schedule`` on the canary
items."""

import dagster as dg

from eval_pipelines.defs.calibration.jobs import calibration_job, canary_job
from eval_pipelines.defs.partitions import previous_day_request

calibration_schedule = dg.ScheduleDefinition(
    name="calibration_schedule",
    job_name=calibration_job.name,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-calibrates the judge every day at 03:00 UTC (labels and judge may have changed).",
)


@dg.schedule(job_name=canary_job.name, cron_schedule="0 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Re-judges the canary items every day at 02:00 UTC for the day that ended.")
def canary_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return previous_day_request(context)
