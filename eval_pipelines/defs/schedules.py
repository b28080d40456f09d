"""Daily jobs: the judge re-measured (calibration, canary), the drift report and the online-offline
divergence of the day that ended."""

from datetime import timedelta

import dagster as dg

calibration_schedule = dg.ScheduleDefinition(
    name="calibration_schedule",
    job_name="calibration_job",
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-calibrates the judge every day at 03:00 UTC (labels and judge may have changed).",
)

def _previous_day(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


@dg.schedule(job_name="canary_job", cron_schedule="0 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Re-judges the canary items every day at 02:00 UTC for the day that ended.")
def canary_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _previous_day(context)


@dg.schedule(job_name="drift_job", cron_schedule="30 1 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="The drift report of the UTC day that ended, at 01:30 (late spans have mostly landed).")
def drift_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _previous_day(context)


@dg.schedule(job_name="divergence_job", cron_schedule="30 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="The online-offline divergence of the UTC day that ended, at 02:30 (its hours are judged).")
def divergence_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _previous_day(context)
