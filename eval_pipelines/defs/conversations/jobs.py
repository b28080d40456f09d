from eval_pipelines.defs.jobs import StageJob

sessions_job = StageJob(
    "sessions_job", "Sessions of ended hours, again after late turns moved them, and the SLIs that count them.",
    tables=("sessions", "quality_slis"))
