from eval_pipelines.defs.jobs import StageJob

offline_job = StageJob(
    "offline_job", "Candidates' outputs for the current golden set scored by the production evaluators and judge.",
    tables=("offline_scores", "offline_quarantine", "offline_judge_scores"))
divergence_job = StageJob(
    "divergence_job", "Each version's offline scores next to its online scores of the day; the daily alert rules.",
    tables=("online_offline_divergence", "divergence_scores", "daily_alerts"))
