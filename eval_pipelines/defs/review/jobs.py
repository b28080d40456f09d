from eval_pipelines.defs.jobs import StageJob

review_job = StageJob(
    "review_job", "The review queue of ended hours, once their alerts are evaluated (requested by review_sensor).",
    tables=("review_queue",))
golden_job = StageJob(
    "golden_job", "A new golden-set version from the reviewed failures (requested by golden_refresh_sensor).",
    tables=("golden_set",))
