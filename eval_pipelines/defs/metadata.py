"""Small helpers that turn domain values into Dagster metadata."""


import dagster as dg
import pyarrow as pa

from eval_pipelines.defs.partitions import hourly_partitions


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(field.name, str(field.type)) for field in schema])


def hourly_table_spec(key: str, description: str, group_name: str, schema: pa.Schema,
                      kinds: set[str] | None = None, deps: list[str] | None = None) -> dg.AssetSpec:
    """The spec of an hourly lake table written by a multi-asset."""
    return dg.AssetSpec(key, description=description, group_name=group_name, kinds=kinds or {"parquet"},
                        partitions_def=hourly_partitions, deps=deps or [],
                        metadata={"dagster/column_schema": column_schema(schema)})
