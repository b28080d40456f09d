"""``dead_run_sensor``: runs whose worker process is gone are marked failed and their pool slots freed.

When ``dagster dev`` (or a machine) stops with runs in flight, those runs stay ``STARTED`` and keep the slots
of the pools their steps held: the single ``judge_endpoint`` slot would block every later run at
``judge_scores``, and nothing would page until someone terminated them by hand. Dagster's run monitoring
does this for run launchers that can check a worker's health (Kubernetes); the local launcher cannot, so
this sensor checks the worker process each run recorded when it started, on this machine.
"""

import os
from pathlib import Path

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher

CHECKED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that started executing the run (its RUN_START event's)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    return records[0].event_log_entry.dagster_event.pid if records else None


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live Dagster process here (a reused pid running something else is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return b"dagster" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to tell: alive, since the pid exists


def release(instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int) -> None:
    instance.report_run_failed(run, f"the run's worker process {pid} is gone (the machine or `dagster dev` stopped "
                                    "while it ran); marked failed so its pool slots serve the next runs")
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose worker process died (a stopped `dagster dev`, a crashed machine) as failed and "
                "frees the pool slots they held, so the pipeline heals without a hand; local run launcher only.",
)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    instance = context.instance
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return dg.SkipReason("this deployment's run launcher reports dead workers itself (run monitoring)")
    released = []
    for run in instance.get_runs(dg.RunsFilter(statuses=CHECKED)):
        pid = worker_pid(instance, run.run_id)
        if pid is not None and not process_alive(pid):
            release(instance, run, pid)
            released.append(f"{run.job_name} {run.run_id[:8]} (pid {pid})")
    if released:
        context.log.warning(f"marked {len(released)} run(s) with a dead worker as failed: {', '.join(released)}")
    return dg.SkipReason(f"{len(released)} run(s) with a dead worker released" if released
                         else "every started run's worker is alive")
