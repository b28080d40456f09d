from eval_pipelines.defs.jobs import StageJob

conversations_job = StageJob(
    "conversations_job", "Sessions and agent runs of ended hours, again after late calls changed them, and the SLIs "
    "that count them.",
    tables=("sessions", "agent_runs", "quality_slis"))
