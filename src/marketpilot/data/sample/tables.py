"""Arrow schemas of the canonical tables, so every generated file matches data/schema.py exactly."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from marketpilot.data.schema import TABLES, TableSpec

ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], nullable=not c.required) for c in spec.columns])


SCHEMAS: dict[str, pa.Schema] = {name: arrow_schema(spec) for name, spec in TABLES.items()}


def build(table: str, columns: Mapping[str, pa.Array | np.ndarray]) -> pa.Table:
    """A table in canonical column order and types; numpy datetime64 columns become timestamps."""
    schema = SCHEMAS[table]
    if set(columns) != set(schema.names):
        raise ValueError(f"{table}: columns {sorted(columns)} differ from the schema {schema.names}")
    arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
