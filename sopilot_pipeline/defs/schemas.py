"""Table schemas for the Dagster UI, derived from the one declaration in core/store/tables.py."""

import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableSchema

from sopilot_pipeline.core.store.tables import TABLE_SCHEMAS, column_description


def table_schema(schema: pa.Schema) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=f.name, type=str(f.type), description=column_description(f))
            for f in schema
        ]
    )


def column_schema_metadata(table: str, *also: str) -> dict:
    """``dagster/column_schema`` of ``table``, plus the schemas of other tables it writes."""
    metadata: dict = {"dagster/column_schema": table_schema(TABLE_SCHEMAS[table])}
    for other in also:
        metadata[f"{other}_schema"] = MetadataValue.table_schema(table_schema(TABLE_SCHEMAS[other]))
    return metadata
