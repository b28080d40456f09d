import dagster as dg

from eval_pipelines.defs.partitions import hourly_partitions

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.groups("ingestion", "validation"),
    partitions_def=hourly_partitions,
    description="Parse one hour of landing files into traces, quarantine and validation results.",
)
