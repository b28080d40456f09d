"""dead_run_sensor against a real instance: a run whose worker process is gone is failed and its pool slot
freed; a run whose worker lives is left alone."""

import logging
import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry

from eval_pipelines.defs.operations.sensors import dead_run_sensor

LOCAL_LAUNCHER = {"run_launcher": {"module": "dagster._core.launcher", "class": "DefaultRunLauncher"}}


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides=LOCAL_LAUNCHER) as local:
        yield local


def started_run(instance: dg.DagsterInstance, run_id: str, pid: int, seconds_ago: float = 0) -> dg.DagsterRun:
    """A run that started in process ``pid`` (``seconds_ago``) and holds the judge pool's slot for its judge
    step."""
    run = dg.DagsterRun(job_name="hourly_evaluation_job", run_id=run_id, status=dg.DagsterRunStatus.STARTED)
    instance.add_run(run)
    start = dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name, pid=pid)
    instance.store_event(EventLogEntry(error_info=None, level=logging.DEBUG, user_message="", run_id=run_id,
                                       timestamp=time.time() - seconds_ago, dagster_event=start))
    instance.event_log_storage.set_concurrency_slots("judge_endpoint", 1)
    instance.event_log_storage.claim_concurrency_slot("judge_endpoint", run_id, "judge_scores")
    return run


def test_a_run_whose_worker_died_is_failed_and_frees_its_pool_slot_and_a_live_one_is_left_alone(instance):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # A run worker is a multiprocessing child: its command line does not say Dagster.
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started_run(instance, "dead-worker", dead.pid)
        started_run(instance, "live-worker", alive.pid)
        started_run(instance, "pid-reused", reused.pid, seconds_ago=60)  # the pid now runs something newer
        assert instance.event_log_storage.get_concurrency_info("judge_endpoint").active_slot_count == 1
        result = dead_run_sensor(dg.build_sensor_context(instance=instance))
    finally:
        alive.kill()
        reused.kill()
    assert "2 run(s) with a dead worker released" in result.skip_message
    assert instance.get_run_by_id("dead-worker").status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id("pid-reused").status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id("live-worker").status == dg.DagsterRunStatus.STARTED
    assert "dead-worker" not in instance.event_log_storage.get_concurrency_run_ids()
