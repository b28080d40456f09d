import dagster as dg

hourly_evaluation_job = dg.define_asset_job(
    "hourly_evaluation_job",
    selection=dg.AssetSelection.groups("ingestion", "validation", "scoring", "judging"),
    description="One hour end to end: traces, validation, programmatic scores, feedback, judge sample and verdicts.",
)
