"""How a deployment names the assets and their groups: a key prefix and a group prefix, none by default (the
Component's ``key_prefix`` and ``group_prefix`` attributes). Lake tables keep their own names either way."""

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class Naming:
    key_prefix: tuple[str, ...] = ()
    group_prefix: str = ""

    def key(self, table: str) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, table])

    def group(self, stage: str) -> str:
        return f"{self.group_prefix}{stage}"

    def tables(self, *tables: str) -> dg.AssetSelection:
        return dg.AssetSelection.assets(*(self.key(table) for table in tables))

    def stages(self, *stages: str) -> dg.AssetSelection:
        return dg.AssetSelection.groups(*(self.group(stage) for stage in stages))

    def apply(self, assets: Sequence[dg.AssetsDefinition], checks: Sequence[dg.AssetChecksDefinition]
              ) -> tuple[list[dg.AssetsDefinition], list[dg.AssetsDefinition]]:
        """``assets`` and ``checks`` (their keys, groups and dependencies) under this naming."""
        if self == DEFAULT_NAMING:
            return list(assets), list(checks)
        renamed = {key: self.key(key.to_user_string()) for asset in assets for key in asset.keys}
        regrouped = [asset.with_attributes(asset_key_replacements=renamed).map_asset_specs(
            lambda spec: spec.replace_attributes(group_name=self.group(spec.group_name))) for asset in assets]
        return regrouped, [check.with_attributes(asset_key_replacements=renamed) for check in checks]


DEFAULT_NAMING = Naming()


def table_key(context: dg.AssetExecutionContext, table: str) -> dg.AssetKey:
    """The key of the step's asset ``table`` in this deployment (its name, under any key prefix)."""
    return next(key for key in context.assets_def.keys if key.path[-1] == table)
