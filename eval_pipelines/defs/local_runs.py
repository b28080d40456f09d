"""Run the pipeline in this process, as the daemon would: one sensor tick, then its run requests.

Used by ``eval-pipelines demo`` and the tests; runs are recorded in the given instance, so with a
persistent ``DAGSTER_HOME`` they show up in the UI afterwards.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from eval_pipelines.defs.conversations.sensors import conversations_sensor
from eval_pipelines.defs.ingestion.sensors import landing_sensor
from eval_pipelines.defs.partitions import RANGE_START, hours_of, range_tags
from eval_pipelines.defs.review.sensors import golden_refresh_sensor, review_sensor
from eval_pipelines.landing import QUIET_SECONDS

# The step-by-step event log stays in the instance (and the UI); the terminal gets warnings only.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class LocalRun:
    partition_keys: tuple[str, ...]  # none for an unpartitioned job
    success: bool
    run_id: str

    @property
    def partition_key(self) -> str:
        """The partition, or the range ``first...last``."""
        keys = self.partition_keys
        return "" if not keys else keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"


def wait_for_quiet_landing(landing: Path) -> None:
    """Let files just written pass the sensor's quiet period (it skips files still being written)."""
    newest = max((p.stat().st_mtime for p in landing.rglob("*") if p.is_file()), default=0.0)
    time.sleep(max(0.0, newest + QUIET_SECONDS + 0.1 - time.time()))


@dataclass(frozen=True)
class LocalPipeline:
    """The project's definitions driven by hand against one instance."""

    instance: dg.DagsterInstance
    defs: dg.Definitions

    def _sensor_context(self, cursor: str | None) -> dg.SensorEvaluationContext:
        return dg.build_sensor_context(instance=self.instance, cursor=cursor, resources=self.defs.resources,
                                       definitions=self.defs)

    def landing_sensor_tick(self, cursor: str | None = None) -> dg.SensorResult:
        return landing_sensor(self._sensor_context(cursor))

    def review_sensor_tick(self, cursor: str | None = None) -> dg.SensorResult:
        return review_sensor(self._sensor_context(cursor))

    def conversations_sensor_tick(self, cursor: str | None = None) -> dg.SensorResult:
        return conversations_sensor(self._sensor_context(cursor))

    def golden_refresh_tick(self) -> dg.RunRequest | dg.SkipReason:
        return golden_refresh_sensor(self._sensor_context(None))

    def execute_run_requests(self, requests: list[dg.RunRequest], progress: Callable[[str], None] = print,
                             job_name: str = "hourly_evaluation_job") -> list[LocalRun]:
        job = self.defs.resolve_job_def(job_name)
        runs = []
        for number, request in enumerate(requests, start=1):
            result = job.execute_in_process(partition_key=request.partition_key, instance=self.instance,
                                            tags=request.tags, raise_on_error=False, run_config=QUIET_LOGS)
            runs.append(_local_run(request, result))
            progress(f"[{number}/{len(requests)}] {job_name} {runs[-1].partition_key}: "
                     f"{'ok' if result.success else 'FAILED'}")
        return runs

    def execute_hours(self, first: str, last: str, job_name: str = "hourly_evaluation_job") -> LocalRun:
        """One run over the hours ``first``..``last`` (as a backfill runs them: each step walks the hours)."""
        request = dg.RunRequest(tags={"eval_pipelines/trigger": "local", **range_tags(first, last)})
        (run,) = self.execute_run_requests([request], progress=lambda _: None, job_name=job_name)
        return run

    def execute_job(self, job_name: str, partition_key: str | None = None) -> LocalRun:
        """One run of a job (e.g. the calibration before the demo's hours)."""
        result = self.defs.resolve_job_def(job_name).execute_in_process(
            partition_key=partition_key, instance=self.instance, raise_on_error=False, run_config=QUIET_LOGS,
            tags={"eval_pipelines/trigger": "local"})
        return LocalRun((partition_key,) if partition_key else (), result.success, result.run_id)


def _local_run(request: dg.RunRequest, result: dg.ExecuteInProcessResult) -> LocalRun:
    keys = tuple(hours_of(request)) if request.partition_key or RANGE_START in request.tags else ()
    return LocalRun(keys, result.success, result.run_id)
