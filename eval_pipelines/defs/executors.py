"""Where a run's steps execute, chosen per deployment with ``EVAL_PIPELINES_EXECUTOR``."""

import os

import dagster as dg

EXECUTOR_ENV_VAR = "EVAL_PIPELINES_EXECUTOR"


def executor_from_env() -> dg.ExecutorDefinition | None:
    """Unset: Dagster's default (each step in its own process on the run's machine, or all in one process,
    per run config). ``in_process``: the whole run in one process. ``k8s``: each step a Kubernetes job, so
    a day's backfill spreads over the cluster (deploy/README.md)."""
    name = os.environ.get(EXECUTOR_ENV_VAR, "")
    if not name:
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV_VAR}={name!r}: use k8s, in_process, or leave it unset for Dagster's default")


def single_process_run_config() -> dict:
    """Run config that executes a run's steps one after another in its own process, where the executor allows
    choosing (Dagster's default): what the sensors' frequent small runs want, since starting a process per
    step would cost more than the step. Empty for the other executors, which decide for themselves."""
    return {} if os.environ.get(EXECUTOR_ENV_VAR) else {"execution": {"config": {"in_process": {}}}}
