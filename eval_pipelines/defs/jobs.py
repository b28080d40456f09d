import dagster as dg

hourly_evaluation_job = dg.define_asset_job(
    "hourly_evaluation_job",
    selection=dg.AssetSelection.groups("ingestion", "validation", "scoring", "judging", "monitoring")
    - dg.AssetSelection.assets("drift_report"),
    description="One hour end to end: traces, validation, scores, feedback, judge verdicts and quality SLIs.",
)

calibration_job = dg.define_asset_job(
    "calibration_job",
    selection=dg.AssetSelection.assets("human_labels", "label_quarantine", "judge_calibration"),
    description="Human labels in, the current judge version measured against them.",
)

canary_job = dg.define_asset_job(
    "canary_job",
    selection=dg.AssetSelection.assets("judge_canary"),
    description="The canary items re-judged, compared with the judge's own baseline.",
)

drift_job = dg.define_asset_job(
    "drift_job",
    selection=dg.AssetSelection.assets("drift_report"),
    description="The day's traffic against its reference period (Evidently drift report).",
)
