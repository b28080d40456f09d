from eval_pipelines.defs.jobs import StageJob

conversations_job = StageJob(
    "conversations_job", "Sessions and agent runs of ended hours (again after late calls changed them), the judge's "
    "verdicts on a sample of them, and the SLIs that count them.",
    stages=("conversations",), tables=("quality_slis",))
