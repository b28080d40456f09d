import dagster as dg

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.groups("ingestion", "validation"),
    description="Parse one hour of landing files into traces, quarantine and validation results.",
)
