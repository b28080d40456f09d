import dagster as dg
import pytest

from eval_pipelines.defs.resources import (
    IngestionConfigResource,
    LakeResource,
    MonitoringConfigResource,
    ScoringConfigResource,
    duckdb_resource,
)


@pytest.fixture
def resources(home):
    return {"lake": LakeResource(home=str(home.root)), "duckdb": duckdb_resource(home),
            "ingestion": IngestionConfigResource(), "scoring": ScoringConfigResource(),
            "monitoring": MonitoringConfigResource()}


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def evaluate_daily_alerts(resources: dict, instance: dg.DagsterInstance, day: str) -> list[dict]:
    """The ``daily_alerts`` asset materialized for ``day`` (what the daily jobs do after their results): the
    alert rows recorded in it."""
    from eval_pipelines.defs.monitoring.assets import daily_alerts

    dg.materialize([daily_alerts], partition_key=day, instance=instance,
                   resources={name: resources[name] for name in ("lake", "monitoring")})
    rows = resources["lake"].lake.read_partition("daily_alerts", "day", day)
    return rows.to_pylist() if rows is not None else []
