"""``landing_sensor``: new or changed landing files become runs for exactly the hours they hold, one run per
hour at a time (new files coalesce into the next run)."""

import hashlib
import json
import time
from datetime import UTC

import dagster as dg

from eval_pipelines.defs.executors import single_process_run_config
from eval_pipelines.defs.ingestion.jobs import hourly_evaluation_job
from eval_pipelines.defs.partitions import FIRST_DAY, RANGE_START, consecutive_stretches, hours_of, range_tags
from eval_pipelines.defs.resources import IngestionConfigResource, LakeResource
from eval_pipelines.hours import START_ENV_VAR, hour_index, hour_key
from eval_pipelines.landing import QUIET_SECONDS
from eval_pipelines.parsing.records import HOUR_NS

SCAN_BUDGET_SECONDS = 40.0
# How often new landing files are looked for: with the receiver's or a Collector's rotation of a few seconds,
# this bounds how long fresh data waits before its run is requested.
LANDING_INTERVAL_SECONDS = 10


def _run_key(key: str, hashes: set[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()[:16]
    return f"{key}:{digest}"


def _load_cursor(cursor: str | None) -> tuple[dict[int, set[str]], str | None]:
    """The hours left waiting by the last tick, and how far it read the index's journal."""
    state = json.loads(cursor) if cursor else {}
    return {int(hour): set(hashes) for hour, hashes in state.get("pending", {}).items()}, state.get("journal_through")


# The tags the run retries (dagster.yaml run_retries) leave on a failed run: a retry will be made, and its id.
WILL_RETRY_TAG, AUTO_RETRY_RUN_ID_TAG = "dagster/will_retry", "dagster/auto_retry_run_id"
# The daemon makes a retry seconds after the failure; an hour whose retry has not come by then is requested again.
RETRY_GRACE_SECONDS = 60
# A run in one of these states still has an hour to write (or may start writing it any moment).
_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _awaiting_retry(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Failed runs the daemon is about to run again (run_retries): marked to retry, no retry made yet, and failed
    less than ``RETRY_GRACE_SECONDS`` ago. The daemon can miss a failure (it reads the failure event and the run's
    status from two stores), and its hours must not wait for a retry that will never come."""
    failed = instance.get_run_records(dg.RunsFilter(job_name=hourly_evaluation_job.name,
                                                    tags={WILL_RETRY_TAG: "true"},
                                                    statuses=[dg.DagsterRunStatus.FAILURE]), limit=100)
    return [record.dagster_run for record in failed if AUTO_RETRY_RUN_ID_TAG not in record.dagster_run.tags
            and time.time() - _failed_at(record) < RETRY_GRACE_SECONDS]


def _failed_at(record: dg.RunRecord) -> float:
    if record.end_time is not None:
        return record.end_time
    updated = record.update_timestamp
    return (updated if updated.tzinfo else updated.replace(tzinfo=UTC)).timestamp()


def _busy_hours(instance: dg.DagsterInstance) -> set[int]:
    """The hours a run of the hourly job (from this sensor, a backfill, a person or a retry about to be made) is
    writing or about to write."""
    busy: set[int] = set()
    active = instance.get_runs(dg.RunsFilter(job_name=hourly_evaluation_job.name, statuses=_ACTIVE))
    for run in [*active, *_awaiting_retry(instance)]:
        request = dg.RunRequest(partition_key=run.tags.get("dagster/partition"), tags=run.tags)
        if request.partition_key is not None or RANGE_START in run.tags:
            busy.update(hour_index(key) for key in hours_of(request))
    return busy


@dg.sensor(
    job_name=hourly_evaluation_job.name,
    minimum_interval_seconds=LANDING_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the landing files (<home>/landing, or EVAL_PIPELINES_LANDING) for new or changed ones "
                "and requests the hours they hold (consecutive hours in one run, a day at most); an hour a run is "
                "still writing waits for it, and the files that arrived meanwhile go into the next run.",
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource,
                   ingestion: IngestionConfigResource) -> dg.SensorResult:
    index = lake.landing_index(ingestion.settings())
    wanted, journal_through = _load_cursor(context.cursor)
    index.journal.forget_through(journal_through)  # this cursor was saved: the hours it read are requested
    refresh = index.refresh(quiet_seconds=QUIET_SECONDS, budget_seconds=SCAN_BUDGET_SECONDS)
    unrequested, journal_through = index.journal.after(journal_through)
    for hour, hashes in unrequested.items():
        wanted.setdefault(hour, set()).update(hashes)
    first_hour, last_hour = hour_index(f"{FIRST_DAY.isoformat()}-00:00"), time.time_ns() // HOUR_NS
    busy = _busy_hours(context.instance) if wanted else set()
    waiting = {hour: hashes for hour, hashes in wanted.items()
               if hour > last_hour or hour in busy or hour < first_hour}
    ready = [(hour, hashes) for hour, hashes in sorted(wanted.items()) if hour not in waiting]
    requests = [_landing_request(hours) for hours in consecutive_stretches(ready, lambda item: item[0])]
    for entry in refresh.touched:
        context.log.debug(f"landing file {entry.path}: {len(entry.hours)} hour(s), "
                          f"{entry.unreadable_documents} unreadable line(s)")
    if refresh.touched:
        damaged = [entry for entry in refresh.touched if entry.unreadable_documents]
        context.log.info(f"{len(refresh.touched)} new or changed landing file(s) touching {len(ready)} hour(s) "
                         f"({len(requests)} run(s)); "
                         f"{sum(e.unreadable_documents for e in damaged)} unreadable line(s) in {len(damaged)} file(s)")
    for name, reason in refresh.unusable:
        context.log.warning(f"landing file {name} skipped, tried again next tick: {reason}")
    behind = sorted(hour for hour in waiting if hour in busy)
    if behind:
        context.log.info(f"{len(behind)} hour(s) wait for the run still writing them: "
                         + ", ".join(hour_key(hour) for hour in behind))
    if early := sum(hour < first_hour for hour in waiting):
        context.log.warning(f"{early} hour(s) lie before the first partition ({FIRST_DAY}); they wait in the "
                            f"cursor until {START_ENV_VAR} names an earlier day")
    if any(hour > last_hour for hour in waiting):
        context.log.warning(f"{sum(hour > last_hour for hour in waiting)} hour(s) lie in the future (clock skew?); "
                            "they wait in the cursor")
    cursor = json.dumps({"pending": {str(hour): sorted(hashes) for hour, hashes in waiting.items()},
                         "journal_through": journal_through})
    if not requests:
        reasons = [f"{len(behind)} hour(s) wait for a run in progress"] if behind else []
        if refresh.waiting:
            reasons.append(f"{len(refresh.waiting)} file(s) still being written or not yet scanned")
        if refresh.unusable:
            reasons.append(f"{len(refresh.unusable)} file(s) skipped (see the tick's log)")
        return dg.SensorResult(skip_reason="no new landing data" + (f"; {'; '.join(reasons)}" if reasons else ""),
                               cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _landing_request(hours: list[tuple[int, set[str]]]) -> dg.RunRequest:
    """One run for consecutive hours, keyed by the content of the files that touch each of them, with its
    steps in one process (no process start per step)."""
    first, last = hour_key(hours[0][0]), hour_key(hours[-1][0])
    tags = {"eval_pipelines/trigger": "landing_sensor"}
    run_config = single_process_run_config()
    if len(hours) == 1:
        return dg.RunRequest(run_key=_run_key(first, hours[0][1]), partition_key=first, tags=tags,
                             run_config=run_config)
    content = {f"{hour}:{digest}" for hour, hashes in hours for digest in hashes}
    return dg.RunRequest(run_key=_run_key(f"{first}..{last}", content), tags=tags | range_tags(first, last),
                         run_config=run_config)
