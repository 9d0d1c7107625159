"""Data layer: canonical schema, loaders, the store, sample data."""

from marketpilot.data.schema import TABLES, TableSpec
from marketpilot.data.store import Store

__all__ = ["TABLES", "Store", "TableSpec"]
