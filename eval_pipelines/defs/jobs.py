import dagster as dg

hourly_evaluation_job = dg.define_asset_job(
    "hourly_evaluation_job",
    selection=dg.AssetSelection.groups("ingestion", "validation", "scoring", "judging", "monitoring")
    - dg.AssetSelection.assets("drift_report", "daily_alerts"),
    description="One hour end to end: traces, validation, scores, feedback, judge verdicts, quality SLIs and the "
                "alerts they raise.",
)

calibration_job = dg.define_asset_job(
    "calibration_job",
    selection=dg.AssetSelection.assets("human_labels", "label_quarantine", "judge_calibration"),
    description="Human labels in, the current judge version measured against them.",
)

canary_job = dg.define_asset_job(
    "canary_job",
    selection=dg.AssetSelection.assets("judge_canary", "daily_alerts"),
    description="The canary items re-judged, compared with the judge's own baseline; the daily alert rules.",
)

drift_job = dg.define_asset_job(
    "drift_job",
    selection=dg.AssetSelection.assets("drift_report", "daily_alerts"),
    description="The day's traffic against its reference period (Evidently drift report); the daily alert rules.",
)

review_job = dg.define_asset_job(
    "review_job",
    selection=dg.AssetSelection.assets("review_queue"),
    description="The review queue of ended hours, once their alerts are evaluated (requested by review_sensor).",
)

golden_job = dg.define_asset_job(
    "golden_job",
    selection=dg.AssetSelection.assets("golden_set"),
    description="A new golden-set version from the reviewed failures (requested by golden_refresh_sensor).",
)

offline_job = dg.define_asset_job(
    "offline_job",
    selection=dg.AssetSelection.assets("offline_scores", "offline_quarantine"),
    description="Candidates' outputs for the current golden set scored by the production evaluators and judge.",
)

divergence_job = dg.define_asset_job(
    "divergence_job",
    selection=dg.AssetSelection.assets("online_offline_divergence", "daily_alerts"),
    description="Each version's offline scores next to its online scores of the day; the daily alert rules.",
)
