from eval_pipelines.defs.jobs import StageJob

hourly_evaluation_job = StageJob(
    "hourly_evaluation_job",
    "One hour end to end: traces, validation, scores, feedback, judge verdicts, the sessions that closed, quality "
    "SLIs and the alerts they raise.",
    stages=("ingestion", "validation", "scoring", "judging", "conversations", "monitoring"),
    excluded=("drift_report", "drift_scores", "daily_alerts"))
