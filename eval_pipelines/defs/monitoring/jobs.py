from eval_pipelines.defs.jobs import StageJob

drift_job = StageJob(
    "drift_job", "The day's traffic against its reference period (Evidently drift report); the daily alert rules.",
    tables=("drift_report", "drift_scores", "daily_alerts"))
