"""What a user does in the UI, through the webserver's GraphQL API: pause automation, launch and follow
a backfill. And the instance's record of what it materialized."""

from datetime import date, timedelta

import dagster as dg

from eval_pipelines.defs.ingestion.jobs import hourly_evaluation_job
from eval_pipelines.defs.partitions import day_start
from eval_pipelines.hours import key_of_hour
from eval_pipelines_tests.servers import DagsterDev, wait_until

FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def hourly_job_assets(defs: dg.Definitions) -> list[str]:
    """The assets of hourly_evaluation_job: what a backfill of a day's hours materializes."""
    job = defs.resolve_job_def(hourly_evaluation_job.name)
    return sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys)


def day_hours(day: date) -> list[str]:
    return [key_of_hour(day_start(day) + timedelta(hours=h)) for h in range(24)]


def stop_instigators_except(server: DagsterDev, keep: set[str]) -> None:
    """Stops the sensors and schedules not in ``keep``, as a user toggles them off in the UI."""
    repositories = server.graphql("""{ repositoriesOrError { ... on RepositoryConnection { nodes {
        sensors { name sensorState { id status } } schedules { name scheduleState { id status } } } } } }""")
    (repository,) = repositories["repositoriesOrError"]["nodes"]
    for sensor in repository["sensors"]:
        if sensor["name"] not in keep and sensor["sensorState"]["status"] == "RUNNING":
            stopped = server.graphql("mutation($id: String) { stopSensor(id: $id) { __typename } }",
                                     {"id": sensor["sensorState"]["id"]})
            assert stopped["stopSensor"]["__typename"] == "StopSensorMutationResult", stopped
    for schedule in repository["schedules"]:
        if schedule["name"] not in keep and schedule["scheduleState"]["status"] == "RUNNING":
            stopped = server.graphql("mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                                     {"id": schedule["scheduleState"]["id"]})
            assert stopped["stopRunningSchedule"]["__typename"] == "ScheduleStateResult", stopped


def launch_backfill(server: DagsterDev, partitions: dict[str, list[str]], run_config: dict | None = None) -> str:
    """A backfill of each asset over its contiguous ``partitions``, as the UI's "Materialize" dialog launches it."""
    params = {"partitionsByAssets": [{"assetKey": {"path": [asset]},
                                      "partitions": {"range": {"start": keys[0], "end": keys[-1]}}}
                                     for asset, keys in partitions.items()],
              "title": "end-to-end test", **({"runConfigData": run_config} if run_config else {})}
    launched = server.graphql("""mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams:
        $params) { __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack } } }""",
                              {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def backfill_status(server: DagsterDev, backfill_id: str) -> dict:
    return server.graphql("""query($id: String!) { partitionBackfillOrError(backfillId: $id) {
        ... on PartitionBackfill { status numPartitions error { message } runs { runId status } } } }""",
                          {"id": backfill_id})["partitionBackfillOrError"]


def wait_for_backfill(server: DagsterDev, backfill_id: str, timeout_s: float) -> dict:
    wait_until(lambda: backfill_status(server, backfill_id)["status"] in FINISHED, timeout_s,
               f"backfill {backfill_id} (log: {server.log})", interval_s=2)
    status = backfill_status(server, backfill_id)
    wait_until(lambda: all(run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}
                           for run in backfill_status(server, backfill_id)["runs"]), 60, "backfill runs to finish")
    return status | {"runs": backfill_status(server, backfill_id)["runs"]}


def wait_for_successful_run(server: DagsterDev, job_name: str, timeout_s: float) -> None:
    """Waits for a run of ``job_name`` (one a sensor requests on its own) to succeed."""
    def succeeded() -> bool:
        runs = server.graphql("""query($job: String!) { runsOrError(filter: {pipelineName: $job}) {
            ... on Runs { results { status } } } }""", {"job": job_name})["runsOrError"]["results"]
        assert all(run["status"] not in {"FAILURE", "CANCELED"} for run in runs), runs
        return any(run["status"] == "SUCCESS" for run in runs)
    wait_until(succeeded, timeout_s, f"a successful {job_name} run (log: {server.log})", interval_s=2)


def materialization_metadata(instance: dg.DagsterInstance, asset: str) -> dict[str, dict]:
    """The latest materialization's metadata of each partition of ``asset`` (plain values)."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
    latest: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        event = record.asset_materialization
        latest[event.partition] = {name: getattr(value, "value", value) for name, value in event.metadata.items()}
    return latest


