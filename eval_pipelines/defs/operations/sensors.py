"""``dead_run_sensor``: runs whose worker process is gone are marked failed and their pool slots freed.

When ``dagster dev`` (or a machine) stops with runs in flight, those runs stay ``STARTED`` and keep the slots
of the pools their steps held: the single ``judge_endpoint`` slot would block every later run at
``judge_scores``, and nothing would page until someone terminated them by hand. Dagster's run monitoring
does this for run launchers that can check a worker's health (Kubernetes); the local launcher cannot, so
this sensor checks the worker process each run recorded when it started, on this machine.
"""

import dagster as dg
import psutil
from dagster._core.launcher import DefaultRunLauncher

CHECKED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
CLOCK_SLACK_S = 1.0  # process creation times are rounded to clock ticks


def worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process that started executing the run and when (its RUN_START event's pid and time)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if not records or records[0].event_log_entry.dagster_event.pid is None:
        return None
    return records[0].event_log_entry.dagster_event.pid, records[0].event_log_entry.timestamp


def process_alive(pid: int, started_at: float) -> bool:
    """Whether ``pid`` is the live process that started the run at ``started_at``: a process of that pid
    created later is another one that reused it. (Run workers are multiprocessing children whose command line
    does not name Dagster, so the creation time is what tells.)"""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= started_at + CLOCK_SLACK_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


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
        started = worker(instance, run.run_id)
        if started is not None and not process_alive(*started):
            release(instance, run, started[0])
            released.append(f"{run.job_name} {run.run_id[:8]} (pid {started[0]})")
    if released:
        context.log.warning(f"marked {len(released)} run(s) with a dead worker as failed: {', '.join(released)}")
    return dg.SkipReason(f"{len(released)} run(s) with a dead worker released" if released
                         else "every started run's worker is alive")
