"""``review_sensor``: each ended hour's review queue, once its alerts are evaluated.
``golden_refresh_sensor``: a golden-set refresh once enough reviewed failures wait."""

import hashlib
import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.defs.partitions import consecutive_stretches, hourly_partitions, range_tags
from eval_pipelines.defs.resources import LakeResource, ReviewConfigResource
from eval_pipelines.defs.review.assets import reviewed_failure_items
from eval_pipelines.defs.review.jobs import golden_job, review_job
from eval_pipelines.hours import hour_index
from eval_pipelines.review.golden import latest_version, pending_failures

FIRST_TICK_HOURS = 48  # without a cursor, start from the last two days, not the whole history


@dg.sensor(
    job_name=review_job.name,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Builds the review queue of each hour that has ended once its alerts are evaluated (the queue "
                "samples the slices of the incidents open in it); consecutive hours in one run.",
)
def review_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    through = json.loads(context.cursor).get("through") if context.cursor else None
    current = hourly_partitions.get_last_partition_key()
    ready = [key for key in lake.lake.partition_keys("alerts", "hour")
             if key < current and (through is None or key > through)][-FIRST_TICK_HOURS:]
    if not ready:
        return dg.SensorResult(skip_reason=f"no ended hour with alerts evaluated after {through or 'the start'}",
                               cursor=context.cursor)
    requests = [dg.RunRequest(run_key=f"review:{hours[0]}..{hours[-1]}",
                              tags={"eval_pipelines/trigger": "review_sensor", **range_tags(hours[0], hours[-1])})
                for hours in consecutive_stretches(ready, hour_index)]
    return dg.SensorResult(run_requests=requests, cursor=json.dumps({"through": ready[-1]}))


@dg.sensor(
    job_name=golden_job.name,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the golden set when enough reviewed failures wait that no refresh has considered "
                "(golden.refresh_threshold in the review settings); materialize golden_set for a refresh on demand.",
)
def golden_refresh_sensor(lake: LakeResource, duckdb: DuckDBResource,
                          review: ReviewConfigResource) -> dg.RunRequest | dg.SkipReason:
    settings = review.settings().golden
    latest = latest_version(lake.layout.shared("golden").local())
    pending = pending_failures(reviewed_failure_items(lake, duckdb, settings), latest)
    current = f"v{latest.version}" if latest else "no version yet"
    if len(pending) < settings.refresh_threshold:
        return dg.SkipReason(f"{len(pending)} new reviewed failure(s), refresh at {settings.refresh_threshold} "
                             f"({current})")
    digest = hashlib.sha256("\n".join(sorted(item["id"] for item in pending)).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"golden:{current}:{digest}",
                         tags={"eval_pipelines/trigger": f"{len(pending)} new reviewed failures"})
