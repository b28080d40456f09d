"""``landing_sensor``: new or changed landing files become runs for exactly the hours they hold."""


import hashlib
import json
import time

import dagster as dg

from eval_pipelines.defs.jobs import hourly_evaluation_job
from eval_pipelines.defs.partitions import hour_key
from eval_pipelines.defs.resources import LakeResource
from eval_pipelines.parsing.records import HOUR_NS

QUIET_SECONDS = 5.0
SCAN_BUDGET_SECONDS = 40.0


def _run_key(key: str, hashes: set[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()[:16]
    return f"{key}:{digest}"


def _load_deferred(cursor: str | None) -> dict[int, set[str]]:
    if not cursor:
        return {}
    return {int(hour): set(hashes) for hour, hashes in json.loads(cursor).get("deferred", {}).items()}


@dg.sensor(
    job=hourly_evaluation_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches <home>/landing for new or changed trace files and requests the hours they hold.",
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    refresh = lake.landing_index.refresh(quiet_seconds=QUIET_SECONDS, budget_seconds=SCAN_BUDGET_SECONDS)
    wanted = _load_deferred(context.cursor)
    for hour, hashes in refresh.hours_to_build().items():
        wanted.setdefault(hour, set()).update(hashes)
    last_hour = time.time_ns() // HOUR_NS
    requests, deferred = [], {}
    for hour, hashes in sorted(wanted.items()):
        if hour > last_hour:
            deferred[str(hour)] = sorted(hashes)
            continue
        key = hour_key(hour)
        requests.append(dg.RunRequest(run_key=_run_key(key, hashes), partition_key=key,
                                      tags={"eval_pipelines/trigger": "landing_sensor"}))
    for entry in refresh.touched:
        context.log.info(f"landing file {entry.path}: {len(entry.hours)} hour(s), "
                         f"{entry.unreadable_documents} unreadable line(s)")
    if deferred:
        context.log.warning(f"{len(deferred)} hour(s) lie in the future (clock skew?); they wait in the cursor")
    cursor = json.dumps({"deferred": deferred})
    if not requests:
        waiting = f"; {len(refresh.waiting)} file(s) still being written or not yet scanned" if refresh.waiting else ""
        return dg.SensorResult(skip_reason=f"no new landing data{waiting}", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)

