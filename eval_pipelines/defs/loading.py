"""The stages, loaded from their folders: every ``eval_pipelines.defs.<stage>`` package's modules are imported and
their assets, checks, sensors, schedules and jobs collected, so adding a definition is adding it to its stage."""

import importlib
import pkgutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from types import ModuleType

import dagster as dg

import eval_pipelines.defs
from eval_pipelines.defs.jobs import StageJob


@dataclass
class Stages:
    assets: list[dg.AssetsDefinition] = field(default_factory=list)
    checks: list[dg.AssetChecksDefinition] = field(default_factory=list)
    sensors: list[dg.SensorDefinition] = field(default_factory=list)
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    jobs: list[StageJob] = field(default_factory=list)

    def add(self, item: object) -> None:
        # Checks are a kind of AssetsDefinition: asked first.
        for kind, items in ((dg.AssetChecksDefinition, self.checks), (dg.AssetsDefinition, self.assets),
                            (dg.SensorDefinition, self.sensors), (dg.ScheduleDefinition, self.schedules),
                            (StageJob, self.jobs)):
            if isinstance(item, kind):
                if not any(existing is item for existing in items):
                    items.append(item)
                return


def stage_names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(eval_pipelines.defs.__path__) if info.ispkg)


def load_stages(names: Collection[str] | None = None) -> Stages:
    """The definitions of the stages ``names`` (all by default), each object once however often it is imported."""
    unknown = set(names or ()) - set(stage_names())
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}: the stages are {', '.join(stage_names())}")
    stages = Stages()
    for module in _modules([name for name in stage_names() if names is None or name in names]):
        for item in vars(module).values():
            stages.add(item)
    return stages


def _modules(names: list[str]) -> Iterator[ModuleType]:
    for name in names:
        package = importlib.import_module(f"eval_pipelines.defs.{name}")
        for info in pkgutil.iter_modules(package.__path__):
            yield importlib.import_module(f"{package.__name__}.{info.name}")
