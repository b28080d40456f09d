"""The single Dagster entry point: ``dagster dev -w workspace.yaml`` loads ``defs`` from here."""

from collections.abc import Collection

import dagster as dg

from eval_pipelines.defs.executors import executor_from_env
from eval_pipelines.defs.loading import load_stages
from eval_pipelines.defs.naming import DEFAULT_NAMING, Naming
from eval_pipelines.defs.resources import default_resources
from eval_pipelines.home import Home


def build_defs(home: Home, naming: Naming = DEFAULT_NAMING, stages: Collection[str] | None = None,
               **resources: dg.ConfigurableResource) -> dg.Definitions:
    """The ``stages`` (all by default) with the lake at ``home``, assets named by ``naming``, and any resource
    replaced by name (the demo, the tests and the Component build their own)."""
    loaded = load_stages(stages)
    assets, checks = naming.apply(loaded.assets, loaded.checks)
    tables = {key.path[-1] for asset in loaded.assets for key in asset.keys}
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[job.build(naming, tables) for job in loaded.jobs],
        schedules=loaded.schedules,
        sensors=loaded.sensors,
        executor=executor_from_env(),
        resources=default_resources(home) | resources,
    )


defs = build_defs(Home.from_env())
