"""``divergence_schedule``: the online-offline divergence of each UTC day that ended."""

import dagster as dg

from eval_pipelines.defs.offline.jobs import divergence_job
from eval_pipelines.defs.partitions import previous_day_request


@dg.schedule(job_name=divergence_job.name, cron_schedule="30 2 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="The online-offline divergence of the UTC day that ended, at 02:30 (its hours are judged).")
def divergence_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return previous_day_request(context)
