"""Jobs as each stage declares them (``StageJob`` in its ``jobs.py``), built for the deployment's naming: named the
same everywhere, selecting the tables of the stages it loads."""

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from eval_pipelines.defs.naming import Naming

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


@dataclass(frozen=True)
class StageJob:
    """A job over whole groups (``stages``) and single ``tables``, less the ``excluded`` tables."""

    name: str
    description: str
    tables: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def build(self, naming: Naming, loaded: Collection[str]) -> "UnresolvedAssetJobDefinition":
        """This job under ``naming``, its tables limited to the ``loaded`` ones (the deployment's stages)."""
        selection = naming.stages(*self.stages) | naming.tables(*(t for t in self.tables if t in loaded))
        excluded = naming.tables(*(t for t in self.excluded if t in loaded))
        return dg.define_asset_job(self.name, selection=selection - excluded, description=self.description)
