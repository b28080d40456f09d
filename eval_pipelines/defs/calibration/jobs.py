from eval_pipelines.defs.jobs import StageJob

calibration_job = StageJob(
    "calibration_job", "Human labels in, the current judge version measured against them.",
    tables=("human_labels", "label_quarantine", "judge_calibration", "judge_calibration_scores"))
canary_job = StageJob(
    "canary_job", "The canary items re-judged, compared with the judge's own baseline; the daily alert rules.",
    tables=("judge_canary", "canary_scores", "daily_alerts"))
