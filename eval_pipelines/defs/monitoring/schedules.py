"""``drift_schedule``: the drift report of each UTC day that ended."""

import dagster as dg

from eval_pipelines.defs.monitoring.jobs import drift_job
from eval_pipelines.defs.partitions import previous_day_request


@dg.schedule(job_name=drift_job.name, cron_schedule="30 1 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="The drift report of the UTC day that ended, at 01:30 (late spans have mostly landed).")
def drift_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return previous_day_request(context)
