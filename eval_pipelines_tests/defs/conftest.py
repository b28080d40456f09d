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
