import dagster as dg

hourly_evaluation_job = dg.define_asset_job(
    "hourly_evaluation_job",
    selection=dg.AssetSelection.groups("ingestion", "validation", "scoring"),
    description="One hour end to end: landing files into traces, validation, programmatic scores and feedback.",
)
