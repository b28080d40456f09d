"""Small helpers that turn domain values into Dagster metadata."""


import dagster as dg

from eval_pipelines.defs.partitions import hourly_partitions
from eval_pipelines.schemas import TABLES


def column_schema(table: str) -> dg.TableSchema:
    """The columns of the lake table ``table``, from the registry its writes are checked against."""
    return dg.TableSchema(columns=[dg.TableColumn(field.name, str(field.type)) for field in TABLES[table].schema])


def hourly_table_spec(key: str, description: str, group_name: str, kinds: set[str] | None = None,
                      deps: list[str] | None = None) -> dg.AssetSpec:
    """The spec of an hourly lake table written by a multi-asset."""
    return dg.AssetSpec(key, description=description, group_name=group_name, kinds=kinds or {"parquet"},
                        partitions_def=hourly_partitions, deps=deps or [],
                        metadata={"dagster/column_schema": column_schema(key)})
