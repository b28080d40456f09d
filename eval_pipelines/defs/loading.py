"""The stages, loaded from their folders: every ``eval_pipelines.defs.<stage>`` package's modules are imported and
their assets, checks, sensors, schedules and jobs collected, so adding a definition is adding it to its stage."""

from collections.abc import Collection
from dataclasses import dataclass, field
from types import ModuleType

import dagster as dg

import eval_pipelines.defs
from eval_pipelines.defs.jobs import StageJob
from eval_pipelines.discovery import package_modules


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


def _stage_packages() -> dict[str, ModuleType]:
    """Each stage's package (imported; its modules not yet), by the stage's name."""
    return {package.__name__.rpartition(".")[2]: package
            for package in package_modules(eval_pipelines.defs, packages_only=True)}


def stage_names() -> list[str]:
    return list(_stage_packages())


def load_stages(names: Collection[str] | None = None) -> Stages:
    """The definitions of the stages ``names`` (all by default), each object once however often it is imported."""
    packages = _stage_packages()
    if unknown := set(names or ()) - set(packages):
        raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}: the stages are {', '.join(packages)}")
    stages = Stages()
    for name, package in packages.items():
        if names is None or name in names:
            for module in package_modules(package):
                for item in vars(module).values():
                    stages.add(item)
    return stages
